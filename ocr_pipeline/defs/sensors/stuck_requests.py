"""Creates the run of a request left ``received`` without one.

``/v1/kafka-verify`` records the row, then submits the run; a process that dies in between (or an
error other than Dagster's own) leaves the row ``received`` with no run, forever. Every
``OCR_STUCK_REQUEST_INTERVAL_SECONDS`` (30, read at load) this sensor looks for rows ``received`` more
than ``OCR_STUCK_REQUEST_GRACE_SECONDS`` (120, read every tick; 0 = off) ago, without a run id and
without any ``verify_request`` run tagged with their request_id (a run waiting in the queue counts),
and requests the run the Kafka sensor would have (run_key = request_id).
"""

from typing import Any

import dagster as dg

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


@dg.sensor(
    name=STUCK_REQUESTS_SENSOR,
    target=verify_request_job,
    minimum_interval_seconds=config.OCR_STUCK_REQUEST_INTERVAL_SECONDS.get(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Creates the run of a request left 'received' without one (e.g. the API died before submitting).",
)
def stuck_requests_sensor(
    context: dg.SensorEvaluationContext, verdict_store: VerdictStoreResource
) -> "dg.SensorResult | dg.SkipReason":
    """Thin wrapper around ``stuck_run_requests``."""
    grace = config.OCR_STUCK_REQUEST_GRACE_SECONDS.get()
    if grace <= 0:
        return dg.SkipReason("OCR_STUCK_REQUEST_GRACE_SECONDS is 0: off")
    requests = stuck_run_requests(verdict_store.get_store(), context.instance, grace)
    if not requests:
        return dg.SkipReason(f"no request waits more than {grace:g} s without a run")
    context.log.warning("%d request(s) received more than %g s ago without a run: creating them (%s)",
                        len(requests), grace, ", ".join(r.run_key for r in requests))
    return dg.SensorResult(run_requests=requests)
