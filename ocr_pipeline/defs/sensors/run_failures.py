"""Marks a request ``failed`` when its run failed where the ops could not record it themselves
(a run worker that died, a failure while starting the run or storing the verdict) and no automatic
retry follows: a run that ``run_retries`` relaunches leaves the row to its retry, which takes it over,
so the request does not sit ``failed`` (and publish a failed result) while its retry is on the way."""


import dagster as dg
from dagster._core.storage.tags import WILL_RETRY_TAG

from ..jobs import verify_request_job
from ..names import REQUEST_RUN_FAILURE_SENSOR
from ..resources.verdict_store import VerdictStoreResource


@dg.run_failure_sensor(
    name=REQUEST_RUN_FAILURE_SENSOR,
    monitored_jobs=[verify_request_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Marks the request row failed when a verify_request run fails outside the ops.",
)
def request_run_failure_sensor(
    context: dg.RunFailureSensorContext, verdict_store: VerdictStoreResource
) -> None:
    """Rows the ops already marked (or another run completed) are left alone."""
    request_id = context.dagster_run.tags.get("request_id")
    if request_id is None:
        return
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":  # set by Dagster when the failure was stored
        context.log.info("request %s: its run failed and will be retried; the retry takes the row", request_id)
        return
    message = (context.failure_event.message or "run failed").strip()
    if verdict_store.get_store().mark_run_failed(int(request_id), context.dagster_run.run_id, message):
        context.log.info("request %s marked failed after its run failed", request_id)
