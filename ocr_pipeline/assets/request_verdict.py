"""``request_verdict``: one request's verdict, as one asset step.

    download (S3; status ``downloading``) -> read (engine ``read_pages``: load, preprocess, OCR; status
    ``processing``) -> verify (engine ``verify_pages``) -> the Verdict, stored by the Postgres IO manager,
    with the evidence preview drawn on the page the OCR read.

One step, not one per stage: every step costs a dozen event-log writes and passes its output through
the filesystem (the document's bytes on disk); measured, the three-step version spent more time on
that than on downloading. Re-executing a failed run repeats the download, which takes a fraction of a
second. The engine is imported inside the step, so loading the code location stays light.
"""


import logging
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

import dagster as dg

from ..engine.iin import mask_iin
from ..engine.models import DocumentError, ErrorCode, PageText, Verdict, error_entry
from ..resources.s3 import DocumentBucketResource
from ..resources.verdict_store import VerdictStoreResource
from ..store import DOWNLOADING, PROCESSING, VerdictStore
from ..verification import ENGINE_SETTINGS

if TYPE_CHECKING:
    from ..events import RequestEvent

log = logging.getLogger(__name__)


class VerificationRequest(dg.Config):
    """Which request to verify. The sensor and the API pass only ``request_id``: the event, with the
    applicant's IIN, is read from its ``ocr_requests`` row, so the run config that Dagster stores and the
    UI shows holds no personal data. An analyst launching a run by hand may give the whole request
    instead (one that was never recorded is recorded then)."""

    request_id: int
    s3_path: Optional[str] = None
    iin: Optional[str] = None
    last_name: Optional[str] = None
    first_name: Optional[str] = None
    second_name: str = ""

    def to_event(self, store: VerdictStore) -> "RequestEvent":
        """The request as an event: the config's fields when complete (not re-validated: a hand-launched
        run keeps its values), else the recorded row's."""
        from ..events import RequestEvent
        from ..store import INVALID, event_from_row

        if self.s3_path and self.iin and self.last_name and self.first_name:
            return RequestEvent(**self.model_dump())
        row = store.get(self.request_id)
        if row is None or row["status"] == INVALID:
            raise dg.Failure(
                description=f"request {self.request_id} is not recorded in ocr_requests: give s3_path, iin, "
                "last_name and first_name (and second_name) in the run config to verify it",
                allow_retries=False,
            )
        return event_from_row(row)


class RequestFailed(dg.Failure):
    """A failure already recorded on the request's row (never retried in the run: the download has
    retried already, or only an analyst can fix the cause)."""


# Anything else that fails the step (a database restart outlasting the store's own retries, a broken
# connection in the middle of a write) is retried in the same run, from the download.
TRANSIENT_FAILURE_RETRIES = dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def _failing_request_on_error(store: VerdictStore, request_id: int, run_id: str) -> Iterator[None]:
    """Any unexpected exception marks the row ``failed`` with its message, then fails the step."""
    try:
        yield
    except RequestFailed:
        raise
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        try:
            store.mark_failed(request_id, message, run_id=run_id)
        except Exception:
            log.exception("could not mark request %s failed", request_id)
        raise


def _download(
    context: dg.AssetExecutionContext,
    event: "RequestEvent",
    documents: DocumentBucketResource,
    store: VerdictStore,
    timings: dict[str, float],
) -> tuple[Optional[bytes], Optional[tuple[str, str]]]:
    """The document's bytes, or the document error that ends in a verdict (e.g. FILE_TOO_LARGE).
    A missing object or exhausted S3 retries fail the run, recorded on the row."""
    from ..s3_download import S3DownloadError

    started = time.perf_counter()
    try:
        obj = documents.download(event.s3_path, max_bytes=ENGINE_SETTINGS.max_file_bytes)
    except DocumentError as error:
        if error.code is ErrorCode.S3_OBJECT_NOT_FOUND:
            store.mark_failed(
                event.request_id,
                error.message,
                errors=[error_entry(error.code, error.message)],
                run_id=context.run_id,
            )
            raise RequestFailed(
                description=f"{error.code.value}: the document of request {event.request_id} is not "
                f"in bucket {documents.bucket}; upload it and re-execute this run",
                metadata={"request_id": event.request_id, "error_code": error.code.value},
                allow_retries=False,
            ) from None
        return None, (error.code.value, error.message)
    except S3DownloadError as error:
        message = f"S3 download failed: {error}"
        store.mark_failed(event.request_id, message, run_id=context.run_id)
        raise RequestFailed(
            description=message, metadata={"request_id": event.request_id}, allow_retries=False
        ) from error
    finally:
        timings["download"] = time.perf_counter() - started
    if obj.etag:
        store.save_document_etag(event.request_id, obj.etag)
    return obj.data, None


@dg.asset(
    group_name="requests",
    kinds={"python", "postgres"},
    io_manager_key="verdict_io_manager",
    retry_policy=TRANSIENT_FAILURE_RETRIES,
    description="The verdict of one loan-deferral request (one run per request; rows in ocr_requests).",
)
def request_verdict(
    context: dg.AssetExecutionContext,
    config: VerificationRequest,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
) -> dg.Output:
    """Download the request's document, read it, check the applicant's name, IIN and the document type."""
    store = verdict_store.get_store()
    event = config.to_event(store)
    if context.run.tags.get("request_id") != str(event.request_id):  # launched by hand, not by the sensor
        context.instance.add_run_tags(
            context.run_id, {"request_id": str(event.request_id), "iin": mask_iin(event.iin)}
        )
    store.record_received(event)  # a no-op when the sensor already recorded it
    _record_a_dead_parent_attempt(context, store, event.request_id)
    retry_count = store.start_attempt(event.request_id, context.run_id, DOWNLOADING)
    context.log.info(
        "request %s (IIN %s), attempt %s", event.request_id, mask_iin(event.iin), (retry_count or 0) + 1
    )
    timings: dict[str, float] = {}
    with _failing_request_on_error(store, event.request_id, context.run_id):
        from ..verification import decide, read_document_bytes

        data, error = _download(context, event, documents, store, timings)
        pages: list[PageText] = []
        prepared_pages: dict = {}
        if error is None:
            store.start_attempt(event.request_id, context.run_id, PROCESSING)
            pages, error = read_document_bytes(data, timings, ENGINE_SETTINGS, prepared_pages)
        verdict = decide(pages, error, event.applicant(), timings, ENGINE_SETTINGS)
    metadata = verdict_metadata(event.request_id, event.iin, verdict)
    metadata.update(_preview_metadata(context, documents, event, data, pages, prepared_pages, verdict))
    context.log.info(
        "request %s: %d page(s), verdict %s %s",
        event.request_id, verdict.pages, verdict.verdict, ",".join(verdict.error_codes) or "-",
    )
    return dg.Output(verdict, metadata=metadata)


def _record_a_dead_parent_attempt(context: dg.AssetExecutionContext, store: VerdictStore, request_id: int) -> None:
    """A retry of a run whose worker died (run monitoring failed it; ``run_retries`` launched this run
    at once) finds the row still ``downloading``/``processing`` under the dead run: mark that attempt
    failed first, so the row and this run's log say what happened before the new attempt starts."""
    parent = context.run.parent_run_id
    if not parent:
        return
    row = store.get(request_id)
    if row is None or row["run_id"] != parent or row["status"] not in (DOWNLOADING, PROCESSING):
        return
    message = (f"the attempt in run {parent} ended without a verdict (its run worker died or the run "
               f"was stopped); retried in run {context.run_id}")
    store.mark_failed(request_id, message, run_id=parent)
    context.log.warning("request %s: %s", request_id, message)


def _preview_metadata(
    context: dg.AssetExecutionContext,
    documents: DocumentBucketResource,
    event: "RequestEvent",
    data: Optional[bytes],
    pages: list[PageText],
    prepared_pages: dict,
    verdict: Verdict,
) -> dict:
    """Upload the evidence preview (OCR'd pages only); its address and boxes as metadata. A preview
    that cannot be made is logged, never a failed verdict."""
    if not documents.preview_prefix or data is None or not any(p.words for p in pages):
        return {}
    from ..preview import make_preview, preview_key

    try:
        boxes, image = make_preview(
            data, pages, verdict, event.applicant(), ENGINE_SETTINGS, prepared_pages
        )
        if image is None:
            return {}
        address = documents.upload_preview(
            preview_key(documents.preview_prefix, event.s3_path, event.request_id), image
        )
    except Exception as error:
        context.log.warning("request %s: no preview: %s: %s", event.request_id, type(error).__name__, error)
        return {}
    return {
        "preview": dg.MetadataValue.path(address),
        "evidence_boxes": dg.MetadataValue.json([box.__dict__ for box in boxes]),
    }


def verdict_metadata(request_id: int, iin: str, verdict: Verdict) -> dict:
    """What an analyst reads on a verdict's materialization: the outcome and its evidence (IIN masked)."""
    name = verdict.checks.get("name")
    iin_check = verdict.checks.get("iin")
    metadata = {
        "request_id": request_id,
        "iin": mask_iin(iin),
        "verdict": verdict.verdict,
        "errors": ", ".join(verdict.error_codes),
        "document_type": verdict.document_type,
        "confidence": float(verdict.confidence),
        "review_required": verdict.review_required,
        "pages": verdict.pages,
        "processing_time_seconds": verdict.processing_time_seconds,
    }
    if name is not None:
        metadata["name_matched"] = bool(name.matched)
        metadata["name_form"] = str(name.detail.get("form") or "")
        metadata["name_snippet"] = name.snippet or ""
        metadata["name_page"] = name.page if name.page is not None else 0
    if iin_check is not None:
        metadata["iin_status"] = str(iin_check.detail.get("status") or "")
        metadata["iin_snippet"] = iin_check.snippet or ""  # masked by the verify step
        metadata["iin_page"] = iin_check.page if iin_check.page is not None else 0
    return metadata
