"""Fails runs that will never start, so ``run_retries`` launches them again.

Run monitoring fails a ``STARTED`` run whose worker stopped beating (``deploy/worker_heartbeat.py``),
but a run still ``STARTING`` is only timed out after ``start_timeout_seconds``: a worker killed right
after taking a task from the queue, or a task that failed before the run started (Dagster's database
restarting), would leave that run waiting minutes for nothing. This sensor, every 5 s, fails such runs
(``deploy.run_workers.fail_runs_lost_before_start``).
"""

import dagster as dg

from ..names import LOST_RUNS_SENSOR


@dg.sensor(
    name=LOST_RUNS_SENSOR,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs that will never start: taken by a lost run worker, or their task ended first "
                "(run_retries launches them again).",
)
def lost_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Thin wrapper around ``fail_runs_lost_before_start``; starts no runs itself."""
    from ocr_pipeline.deploy.run_workers import fail_runs_lost_before_start

    failed = fail_runs_lost_before_start(context.instance)
    if failed:
        context.log.error("failed %d run(s) that would never start: %s", len(failed),
                          ", ".join(failed))
    return dg.SkipReason(f"{len(failed)} run(s) lost before they started")
