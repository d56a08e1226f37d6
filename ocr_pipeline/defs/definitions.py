"""The Dagster code location: ``dagster dev -w workspace.yaml`` / ``dagster-daemon run -w workspace.yaml``."""

import dagster as dg

from .analyst_jobs import (
    daily_summary_job,
    daily_summary_schedule,
    prefix_backfill_job,
    recheck_requests_job,
    register_prefix_job,
)
from .assets import daily_verdict_summary, prefix_backfill, request_verdict
from .jobs import verify_request_job
from .resources import build_resources
from .sensors import (
    document_prefix_sensor,
    kafka_requests_sensor,
    lost_runs_sensor,
    request_run_failure_sensor,
    result_events_sensor,
    stuck_requests_sensor,
)

defs = dg.Definitions(
    assets=[request_verdict, prefix_backfill, daily_verdict_summary],
    jobs=[verify_request_job, prefix_backfill_job, register_prefix_job, recheck_requests_job, daily_summary_job],
    schedules=[daily_summary_schedule],
    sensors=[
        kafka_requests_sensor,
        request_run_failure_sensor,
        document_prefix_sensor,
        result_events_sensor,
        stuck_requests_sensor,
        lost_runs_sensor,
    ],
    resources=build_resources(),
    # the default of jobs without their own, notably the implicit asset job that *Materialize* and asset
    # backfills in the UI launch: run workers are daemonic processes, which may not start step processes
    executor=dg.in_process_executor,
)
