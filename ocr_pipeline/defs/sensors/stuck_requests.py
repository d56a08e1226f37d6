"""Requests left without a live run: given a run, or released.

- ``/v1/kafka-verify`` records the row, then submits the run; a process that dies in between (or an
  error other than Dagster's own) leaves the row ``received`` with no run, forever. The sensor looks
  for rows ``received`` more than ``OCR_STUCK_REQUEST_GRACE_SECONDS`` (120, read every tick; 0 = off)
  ago, without a run id and without any ``verify_request`` run tagged with their request_id (a run
  waiting in the queue counts), and requests the run the Kafka sensor would have (run_key = request_id).
- A run holds the rows it works on (``run_id``; no other run may take a row in progress). A backfill
  or re-check run that died (its worker host lost, its run failed with no retry left) would hold its
  rows ``processing`` forever, and every later backfill would leave them to it. Rows in progress
  untouched for the same grace whose run has ended for good are marked ``failed`` ("its run ended
  without a verdict"): an analyst's re-check or the next backfill takes them.

Every ``OCR_STUCK_REQUEST_INTERVAL_SECONDS`` (30, read at load).
"""

from typing import Any

import dagster as dg
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, WILL_RETRY_TAG

from ocr_pipeline.adapters import config
from ocr_pipeline.adapters.store import VerdictStore, event_from_row

from ..jobs import verify_request_job
from ..names import STUCK_REQUESTS_SENSOR, VERIFY_REQUEST_JOB
from ..resources.verdict_store import VerdictStoreResource
from .kafka_requests import run_request_for

MAX_REQUESTS_PER_TICK = 100


def stuck_run_requests(store: VerdictStore, instance: Any, grace: float,
                       limit: int = MAX_REQUESTS_PER_TICK) -> list[dg.RunRequest]:
    """One run request per request ``received`` more than ``grace`` seconds ago that has no run."""
    rows = store.received_without_run(grace, limit)
    if not rows:
        return []
    ids = [str(row["request_id"]) for row in rows]
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=VERIFY_REQUEST_JOB, tags={"request_id": ids}))
    with_run = {run.tags.get("request_id") for run in runs}
    return [run_request_for(event_from_row(row)) for row in rows if str(row["request_id"]) not in with_run]


def release_rows_of_ended_runs(store: VerdictStore, instance: Any, grace: float) -> list[int]:
    """Mark ``failed`` the requests held in progress (untouched for ``grace`` seconds) by a run that has
    ended for good: finished, or gone, and no ``run_retries`` retry of it still to come or running.
    Returns the request ids marked."""
    released = []
    for run_id, request_ids in store.in_progress_by_run(grace).items():
        ended = _ended_for_good(instance, run_id)
        if ended is None:
            continue
        for request_id in request_ids:
            if store.mark_run_failed(request_id, run_id, ended):
                released.append(request_id)
    return released


def _ended_for_good(instance: Any, run_id: str) -> "str | None":
    """Why ``run_id`` will never finish its rows, or None while it (or its retry) still may."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"its run {run_id} no longer exists; it ended without a verdict"
    if not run.is_finished:
        return None
    if run.tags.get(WILL_RETRY_TAG) == "true":  # its retry takes the rows over (parent_run_id)
        retries = instance.get_runs(filters=dg.RunsFilter(tags={PARENT_RUN_ID_TAG: run_id}))
        if not retries or not all(retry.is_finished for retry in retries):
            return None
    return f"its run {run_id} ended ({run.status.value}) without a verdict"


@dg.sensor(
    name=STUCK_REQUESTS_SENSOR,
    target=verify_request_job,
    minimum_interval_seconds=config.OCR_STUCK_REQUEST_INTERVAL_SECONDS.get(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Creates the run of a request left 'received' without one (e.g. the API died before submitting); "
                "marks failed the requests a run that ended for good still holds in progress.",
)
def stuck_requests_sensor(
    context: dg.SensorEvaluationContext, verdict_store: VerdictStoreResource
) -> "dg.SensorResult | dg.SkipReason":
    """Thin wrapper around ``release_rows_of_ended_runs`` and ``stuck_run_requests``."""
    grace = config.OCR_STUCK_REQUEST_GRACE_SECONDS.get()
    if grace <= 0:
        return dg.SkipReason("OCR_STUCK_REQUEST_GRACE_SECONDS is 0: off")
    store = verdict_store.get_store()
    released = release_rows_of_ended_runs(store, context.instance, grace)
    if released:
        context.log.error("%d request(s) held by a run that ended without their verdict marked failed (%s)",
                          len(released), ", ".join(map(str, released)))
    requests = stuck_run_requests(store, context.instance, grace)
    if not requests:
        return dg.SkipReason(f"no request waits more than {grace:g} s without a run"
                             + (f"; {len(released)} released from ended runs" if released else ""))
    context.log.warning("%d request(s) received more than %g s ago without a run: creating them (%s)",
                        len(requests), grace, ", ".join(r.run_key for r in requests))
    return dg.SensorResult(run_requests=requests)
