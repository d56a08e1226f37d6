"""``request_verdict``: one request's verdict, as a graph-backed asset of three thin ops.

    download_document  (S3; status ``downloading``)
      -> read_document (engine ``read_pages``: load, preprocess, OCR; status ``processing``)
      -> verify_applicant (engine ``verify_pages``) -> the Verdict, stored by the Postgres IO manager
         (it also takes the downloaded document, to draw the evidence preview of OCR'd pages)

Three steps, not one: the bytes and the page texts pass through the default (filesystem) IO manager,
so re-execution from failure resumes where the run stopped; not more, because every step costs
event-log writes. The engine is imported inside the ops, so loading the code location stays light.
"""


import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    """The request event as run config: the sensor passes each event; analysts may launch one by hand."""

    request_id: int
    s3_path: str
    iin: str
    last_name: str
    first_name: str
    second_name: str = ""

    def to_event(self) -> "RequestEvent":
        """The config as a request event (not re-validated: a hand-launched run keeps its values)."""
        from ..events import RequestEvent

        return RequestEvent(**self.model_dump())


@dataclass
class DownloadedDocument:
    """What ``download_document`` hands on: the bytes, or the document error that ends in a verdict."""

    event: "RequestEvent"
    data: Optional[bytes]
    size: int = 0
    etag: Optional[str] = None
    content_type: Optional[str] = None
    error: Optional[tuple[str, str]] = None  # (ErrorCode value, message)
    seconds: float = 0.0


@dataclass
class DocumentText:
    """What ``read_document`` hands on: the text of each page (or the document error) and timings."""

    event: "RequestEvent"
    pages: list[PageText] = field(default_factory=list)
    error: Optional[tuple[str, str]] = None
    timings: dict[str, float] = field(default_factory=dict)


class RequestFailed(dg.Failure):
    """A failure already recorded on the request's row."""


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


@dg.op(description="Download the request's document from S3 (status downloading).")
def download_document(
    context: dg.OpExecutionContext,
    config: VerificationRequest,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
) -> DownloadedDocument:
    from ..s3_download import S3DownloadError

    event = config.to_event()
    if context.run.tags.get("request_id") != str(event.request_id):  # launched by hand, not by the sensor
        context.instance.add_run_tags(
            context.run_id, {"request_id": str(event.request_id), "iin": mask_iin(event.iin)}
        )
    store = verdict_store.get_store()
    store.record_received(event)  # a no-op when the sensor already recorded it
    retry_count = store.start_attempt(event.request_id, context.run_id, DOWNLOADING)
    context.log.info(
        "request %s (IIN %s), attempt %s", event.request_id, mask_iin(event.iin), (retry_count or 0) + 1
    )
    started = time.perf_counter()
    with _failing_request_on_error(store, event.request_id, context.run_id):
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
                    f"in bucket {documents.bucket}; upload it and re-execute this run from failure",
                    metadata={"request_id": event.request_id, "error_code": error.code.value},
                    allow_retries=False,
                ) from None
            return DownloadedDocument(
                event=event,
                data=None,
                error=(error.code.value, error.message),
                seconds=time.perf_counter() - started,
            )
        except S3DownloadError as error:
            message = f"S3 download failed: {error}"
            store.mark_failed(event.request_id, message, run_id=context.run_id)
            raise RequestFailed(
                description=message, metadata={"request_id": event.request_id}
            ) from error
    if obj.etag:
        store.save_document_etag(event.request_id, obj.etag)
    return DownloadedDocument(
        event=event,
        data=obj.data,
        size=obj.size,
        etag=obj.etag,
        content_type=obj.content_type,
        seconds=time.perf_counter() - started,
    )


@dg.op(description="Load, preprocess and OCR the pages (status processing).")
def read_document(
    context: dg.OpExecutionContext, document: DownloadedDocument, verdict_store: VerdictStoreResource
) -> DocumentText:
    event = document.event
    store = verdict_store.get_store()
    store.start_attempt(event.request_id, context.run_id, PROCESSING)
    timings = {"download": document.seconds}
    if document.error is not None:
        return DocumentText(event=event, error=document.error, timings=timings)
    with _failing_request_on_error(store, event.request_id, context.run_id):
        from ..verification import read_document_bytes

        pages, error = read_document_bytes(document.data, timings, ENGINE_SETTINGS)
        if error is not None:
            context.log.info("request %s: document rejected: %s", event.request_id, error[0])
            return DocumentText(event=event, error=error, timings=timings)
    context.log.info("request %s: %d page(s) read", event.request_id, len(pages))
    return DocumentText(event=event, pages=pages, timings=timings)


@dg.op(
    description="Check the applicant's name, IIN and the document type; the verdict goes to Postgres.",
    out=dg.Out(Verdict, io_manager_key="verdict_io_manager"),
)
def verify_applicant(
    context: dg.OpExecutionContext,
    text: DocumentText,
    document: DownloadedDocument,
    verdict_store: VerdictStoreResource,
    documents: DocumentBucketResource,
) -> dg.Output:
    event = text.event
    store = verdict_store.get_store()
    store.start_attempt(event.request_id, context.run_id, PROCESSING)
    with _failing_request_on_error(store, event.request_id, context.run_id):
        from ..verification import decide

        verdict = decide(text.pages, text.error, event.applicant(), text.timings, ENGINE_SETTINGS)
    metadata = verdict_metadata(event.request_id, event.iin, verdict)
    metadata.update(_preview_metadata(context, documents, document, text, verdict))
    context.log.info(
        "request %s: verdict %s %s", event.request_id, verdict.verdict, ",".join(verdict.error_codes) or "-"
    )
    return dg.Output(verdict, metadata=metadata)


def _preview_metadata(
    context: dg.OpExecutionContext,
    documents: DocumentBucketResource,
    document: DownloadedDocument,
    text: DocumentText,
    verdict: Verdict,
) -> dict:
    """Upload the evidence preview (OCR'd pages only); its address and boxes as metadata. A preview
    that cannot be made is logged, never a failed verdict."""
    if not documents.preview_prefix or document.data is None or not any(p.words for p in text.pages):
        return {}
    from ..preview import make_preview, preview_key

    event = text.event
    try:
        boxes, image = make_preview(document.data, text.pages, verdict, event.applicant(), ENGINE_SETTINGS)
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


@dg.config_mapping
def _request_as_run_config(request: VerificationRequest) -> dict:
    return {"download_document": {"config": request.model_dump()}}


@dg.graph_asset(
    config=_request_as_run_config,
    group_name="requests",
    kinds={"python", "postgres"},
    description="The verdict of one loan-deferral request (one run per request; rows in ocr_requests).",
)
def request_verdict():
    """download_document -> read_document -> verify_applicant."""
    document = download_document()
    return verify_applicant(read_document(document), document)
