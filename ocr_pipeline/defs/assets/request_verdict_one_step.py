"""``request_verdict`` in one step (``OCR_REQUEST_STAGES=one-step``): the same stages as the default
graph-backed asset (``request_verdict.py``), in one op.

One step writes about half the event-log entries of three; the README's *Pipeline speed* compares the
two shapes side by side (``make bench``). Re-executing a failed run repeats every stage.
"""

import dagster as dg

from ocr_pipeline.adapters import telemetry
from ocr_pipeline.flows.verification import ENGINE_SETTINGS

from ..resources.s3 import DocumentBucketResource
from ..resources.verdict_store import VerdictStoreResource
from .request_verdict import (
    TRANSIENT_FAILURE_RETRIES,
    VerificationRequest,
    _downloader,
    _lifecycle,
    _stage,
    read_fetched,
    verdict_output,
)


@dg.asset(
    name="request_verdict",
    group_name="requests",
    kinds={"python", "postgres"},
    io_manager_key="verdict_io_manager",
    retry_policy=TRANSIENT_FAILURE_RETRIES,
    description="The verdict of one loan-deferral request (one run per request; rows in ocr_requests).",
)
def request_verdict_one_step(
    context: dg.AssetExecutionContext,
    config: VerificationRequest,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
) -> dg.Output:
    """Download the request's document, read it, check the applicant's name, IIN and the document type
    (the stages of ``flows.lifecycle`` in one op; the IO manager saves the verdict)."""
    from ocr_pipeline.engine.pipeline import decide

    lifecycle, event = _lifecycle(context, config, verdict_store)
    with _stage(lifecycle, event, documents, context, "verify_request run"):
        with telemetry.span("download"):
            fetched = lifecycle.fetch([event], event.s3_path, _downloader(documents))
        with telemetry.span("ocr"):
            reading = read_fetched(lifecycle, event, fetched)
        with telemetry.span("verify"):
            verdict = decide(reading.document, event.applicant(), ENGINE_SETTINGS, reading.timings)
        lifecycle.decided(event, verdict)
    return verdict_output(context, lifecycle, documents, event, fetched, reading, verdict)
