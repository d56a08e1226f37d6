"""``request_verdict``: one request's verdict, a graph-backed asset whose ops are the request's stages
(``flows.lifecycle``):

    download_document (S3; status ``downloading``) -> read_document (engine ``read_document``: load,
    OpenCV, Tesseract; status ``processing``) -> decide_verdict (engine ``decide``: name, IIN, document
    type, second look) -> the Verdict, stored by the Postgres IO manager, with the evidence preview
    drawn on the page the OCR read.

The ops run in one process (the job's in-process executor) and hand the document's bytes and its
reading over in memory (``resources/stage_memory.py``): nothing on disk. Every op has the same config
(the request id, or the whole request when launched by hand). The engine is imported inside the ops,
so loading the code location stays light. ``request_verdict_one_step.py`` is the same in one op.
"""


import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

import dagster as dg

from ocr_pipeline.adapters import telemetry
from ocr_pipeline.adapters.log_masking import mask_name
from ocr_pipeline.adapters.store import DOWNLOADING, PROCESSING, AttemptRefused, VerdictStore
from ocr_pipeline.engine.iin import mask_iin
from ocr_pipeline.engine.models import ErrorCode, Verdict
from ocr_pipeline.flows.lifecycle import Fetched
from ocr_pipeline.flows.verification import ENGINE_SETTINGS, evidence_preview

from ..resources.s3 import DocumentBucketResource
from ..resources.stage_memory import stage_memory_io_manager
from ..resources.verdict_store import VerdictStoreResource

if TYPE_CHECKING:
    from ocr_pipeline.engine.pipeline import ReadDocument
    from ocr_pipeline.flows.events import RequestEvent
    from ocr_pipeline.flows.lifecycle import RequestLifecycle

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

    def to_event(self, store: VerdictStore, row: Optional[dict] = None) -> "RequestEvent":
        """The request as an event: the config's fields when complete (not re-validated: a hand-launched
        run keeps its values), else the recorded row's (``row`` when the caller has read it already)."""
        from ocr_pipeline.adapters.store import INVALID, event_from_row
        from ocr_pipeline.flows.events import RequestEvent

        if self.s3_path and self.iin and self.last_name and self.first_name:
            return RequestEvent(**self.model_dump())
        row = row or store.get(self.request_id)
        if row is None or row["status"] == INVALID:
            raise dg.Failure(
                description=f"request {self.request_id} is not recorded in ocr_requests: give s3_path, iin, "
                "last_name and first_name (and second_name) in the run config to verify it",
                allow_retries=False,
            )
        return event_from_row(row)


# Anything else that fails the step (a database restart outlasting the store's own retries, a broken
# connection in the middle of a write) is retried in the same run 2, 6 and 14 s later, so a restart that
# takes a loaded database a few seconds does not fail the request.
TRANSIENT_FAILURE_RETRIES = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)


STAGE_OPS = ("download_document", "read_document", "decide_verdict")


@dataclass
class Reading:
    """What ``read_document`` hands to ``decide_verdict``: the document as read, and the stages' times."""

    document: "ReadDocument"
    timings: dict[str, float] = field(default_factory=dict)


def _lifecycle(context: dg.OpExecutionContext, config: VerificationRequest,
               verdict_store: VerdictStoreResource) -> tuple["RequestLifecycle", "RequestEvent"]:
    """This run's attempt on the request. The first stage this run executes (the download, or a later
    stage when an analyst re-executes from failure) starts the attempt on the row."""
    from ocr_pipeline.flows.lifecycle import RequestLifecycle

    store = verdict_store.get_store()
    row = store.get(config.request_id)
    event = config.to_event(store, row)
    lifecycle = RequestLifecycle(store, context.run_id, "run", parent_run_id=context.run.parent_run_id)
    if row is None or row["run_id"] != context.run_id:
        if context.run.tags.get("request_id") != str(event.request_id):  # launched by hand, not by the sensor
            context.instance.add_run_tags(
                context.run_id, {"request_id": str(event.request_id), "iin": mask_iin(event.iin)}
            )
        _record_a_dead_parent_attempt(context, store, event.request_id)
        try:
            retry_count = lifecycle.claim(event)
        except AttemptRefused as refused:  # another run's attempt owns the row: this run stops, writing nothing
            raise dg.Failure(description=str(refused), metadata={"request_id": event.request_id},
                             allow_retries=False) from None
        context.log.info(
            "request %s (IIN %s), attempt %s", event.request_id, mask_iin(event.iin), (retry_count or 0) + 1
        )
    return lifecycle, event


@contextmanager
def _stage(lifecycle: "RequestLifecycle", event: "RequestEvent", documents: DocumentBucketResource,
           context: dg.OpExecutionContext, name: str) -> Iterator[None]:
    """One stage: its failures recorded on the row; a failure already recorded (the document is missing,
    S3 failed after its retries) or a row another attempt took over ends the run without retries; the
    stage traced."""
    from ocr_pipeline.flows.lifecycle import RequestFailed

    try:
        with lifecycle.failures_recorded([event]), \
                telemetry.span(name, context.run.tags.get(telemetry.TRACEPARENT_TAG),
                               request_id=event.request_id, run_id=context.run_id):
            yield
    except RequestFailed as failed:  # recorded on the row; only an analyst (or the next run) fixes it
        raise dg.Failure(
            description=_failure_description(failed, event, documents),
            metadata={"request_id": event.request_id, "error_code": failed.code},
            allow_retries=False,
        ) from None
    except AttemptRefused as refused:  # a newer attempt took the row over: this run's work is stale
        raise dg.Failure(description=str(refused), metadata={"request_id": event.request_id},
                         allow_retries=False) from None


@dg.op(
    name="download_document",
    out=dg.Out(io_manager_key="stage_io_manager"),
    retry_policy=TRANSIENT_FAILURE_RETRIES,
    description="The request's document from S3 (status downloading); kept in memory for the next stage.",
)
def download_document(
    context: dg.OpExecutionContext,
    config: VerificationRequest,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
) -> Fetched:
    """Download the document (retries, waiting out an S3 outage); a missing object fails the run."""
    lifecycle, event = _lifecycle(context, config, verdict_store)
    with _stage(lifecycle, event, documents, context, "download"):
        fetched = lifecycle.fetch([event], event.s3_path, _downloader(documents))
    context.add_output_metadata({
        "bytes": len(fetched.data or b""),
        "seconds": round(fetched.seconds, 3),
        "document_error": fetched.error.code.value if fetched.error else "",
    })
    return fetched


@dg.op(
    name="read_document",
    out=dg.Out(io_manager_key="stage_io_manager"),
    retry_policy=TRANSIENT_FAILURE_RETRIES,
    description="Load, clean up (OpenCV) and OCR (Tesseract) the document (status processing).",
)
def read_document(
    context: dg.OpExecutionContext,
    config: VerificationRequest,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
    fetched: Fetched,
) -> Reading:
    """Read the document once: its pages' text and images, in memory for the verdict."""
    lifecycle, event = _lifecycle(context, config, verdict_store)
    with _stage(lifecycle, event, documents, context, "ocr"):
        reading = read_fetched(lifecycle, event, fetched)
    context.add_output_metadata({
        "pages": len(reading.document.pages),
        "document_error": reading.document.error.code.value if reading.document.error else "",
        **{f"{stage}_seconds": round(seconds, 3) for stage, seconds in reading.timings.items()},
    })
    return reading


@dg.op(
    name="decide_verdict",
    out=dg.Out(io_manager_key="verdict_io_manager"),
    retry_policy=TRANSIENT_FAILURE_RETRIES,
    description="Check the applicant's name, IIN and the document type; the verdict is saved on the row.",
)
def decide_verdict(
    context: dg.OpExecutionContext,
    config: VerificationRequest,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
    fetched: Fetched,
    reading: Reading,
) -> dg.Output:
    """The verdict (a second look at hard pages included) with its evidence and preview."""
    from ocr_pipeline.engine.pipeline import decide

    lifecycle, event = _lifecycle(context, config, verdict_store)
    with _stage(lifecycle, event, documents, context, "verify"):
        verdict = decide(reading.document, event.applicant(), ENGINE_SETTINGS, reading.timings)
        lifecycle.decided(event, verdict)
    return verdict_output(context, lifecycle, documents, event, fetched, reading, verdict)


def verdict_output(context: dg.OpExecutionContext, lifecycle: "RequestLifecycle", documents: DocumentBucketResource,
                   event: "RequestEvent", fetched: Fetched, reading: Reading, verdict: Verdict) -> dg.Output:
    """The asset's value (the IO manager saves it) with what an analyst reads: the verdict's metadata and
    the evidence preview."""
    metadata = verdict_metadata(event.request_id, event.iin, verdict)
    metadata.update(_preview_metadata(lifecycle, documents, event, fetched.data, reading.document, verdict))
    context.log.info(
        "request %s: %d page(s), verdict %s %s",
        event.request_id, verdict.pages, verdict.verdict, ",".join(verdict.error_codes) or "-",
    )
    return dg.Output(verdict, metadata=metadata)


def _same_config_for_every_stage(config: dict) -> dict:
    """The run config of the asset (``ops: {request_verdict: {config: ...}}``, as the one-step shape's) is
    every stage's config."""
    return {name: {"config": dict(config)} for name in STAGE_OPS}


@dg.graph_asset(
    name="request_verdict",
    group_name="requests",
    kinds={"python", "postgres"},
    config=dg.ConfigMapping(config_fn=_same_config_for_every_stage,
                            config_schema=VerificationRequest.to_config_schema()),
    resource_defs={"stage_io_manager": stage_memory_io_manager},
    description="The verdict of one loan-deferral request (one run per request; rows in ocr_requests): "
                "download → read (OpenCV, Tesseract) → decide.",
)
def request_verdict():
    """The request's stages as ops, handing the document over in memory (``stage_io_manager``)."""
    fetched = download_document()
    return decide_verdict(fetched, read_document(fetched))


def read_fetched(lifecycle: "RequestLifecycle", event: "RequestEvent", fetched: Fetched) -> Reading:
    """The read stage: the row to ``processing``, the document read (or its download's error kept)."""
    from ocr_pipeline.engine.pipeline import ReadDocument
    from ocr_pipeline.engine.pipeline import read_document as read

    timings = {"download": fetched.seconds}
    if fetched.error is not None:
        return Reading(ReadDocument.failed(fetched.error), timings)
    lifecycle.start_reading([event], fetched)
    return Reading(read(fetched.data, ENGINE_SETTINGS, timings), timings)


def fetch_again(config: dict, run_id: str, documents: DocumentBucketResource,
                verdict_store: VerdictStoreResource) -> Fetched:
    """``download_document``'s output, made again in a run that did not execute it (re-execution)."""
    from ocr_pipeline.flows.lifecycle import RequestLifecycle

    store = verdict_store.get_store()
    event = VerificationRequest(**config).to_event(store)
    return RequestLifecycle(store, run_id, "run").fetch([event], event.s3_path, _downloader(documents))


def read_again(config: dict, run_id: str, verdict_store: VerdictStoreResource, fetched: Fetched) -> Reading:
    """``read_document``'s output, made again from ``fetched`` in a run that did not execute it."""
    from ocr_pipeline.flows.lifecycle import RequestLifecycle

    store = verdict_store.get_store()
    event = VerificationRequest(**config).to_event(store)
    return read_fetched(RequestLifecycle(store, run_id, "run"), event, fetched)


def _downloader(documents: DocumentBucketResource):
    """The lifecycle's download: the resource's (retries, waiting out an S3 outage, the breaker)."""
    return lambda key: documents.download(key, max_bytes=ENGINE_SETTINGS.max_file_bytes)


def _failure_description(failed, event: "RequestEvent", documents: DocumentBucketResource) -> str:
    if failed.code == ErrorCode.S3_OBJECT_NOT_FOUND.value:
        return (f"{failed.code}: the document of request {event.request_id} is not in bucket "
                f"{documents.bucket}; upload it and re-execute this run")
    return failed.message


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
    if store.mark_failed(request_id, message, run_id=parent):  # only while the parent still owns the row
        context.log.warning("request %s: %s", request_id, message)


def _preview_metadata(
    lifecycle: "RequestLifecycle",
    documents: DocumentBucketResource,
    event: "RequestEvent",
    data: Optional[bytes],
    document: "ReadDocument",
    verdict: Verdict,
) -> dict:
    """Upload the evidence preview (OCR'd pages only); its address and boxes as metadata. A preview
    that cannot be made or uploaded is logged, never a failed verdict."""
    if not documents.preview_prefix:
        return {}
    preview = evidence_preview(data, document, verdict, event.applicant(), ENGINE_SETTINGS)
    if preview is None:
        return {}
    boxes, image = preview
    address = lifecycle.upload_preview(event, image, documents.upload_preview, documents.preview_prefix)
    if address is None:
        return {}
    return {
        "preview": dg.MetadataValue.path(address),
        "evidence_boxes": dg.MetadataValue.json([box.__dict__ for box in boxes]),
    }


def verdict_metadata(request_id: int, iin: str, verdict: Verdict) -> dict:
    """What an analyst reads on a verdict's materialization: the outcome and its evidence, IIN and name
    masked (Dagster's event log is no place for personal data; ``ocr_requests`` holds them)."""
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
        "review_reasons": ", ".join(verdict.review_reasons),
        "pages": verdict.pages,
        "processing_time_seconds": verdict.processing_time_seconds,
    }
    if name is not None:
        metadata["name_matched"] = bool(name.matched)
        # names masked (И****** М****): the full ones are in ocr_requests.evidence
        metadata["name_form"] = mask_name(str(name.detail.get("form") or ""))
        metadata["name_case"] = str(name.detail.get("case") or "")
        metadata["name_snippet"] = mask_name(name.snippet or "")
        metadata["name_page"] = name.page if name.page is not None else 0
    if iin_check is not None:
        metadata["iin_status"] = str(iin_check.detail.get("status") or "")
        metadata["iin_snippet"] = iin_check.snippet or ""  # masked by the verify step
        metadata["iin_page"] = iin_check.page if iin_check.page is not None else 0
    return metadata
