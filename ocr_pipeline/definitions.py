"""The Dagster code location: ``dagster dev -w workspace.yaml`` / ``dagster-daemon run -w workspace.yaml``."""

import dagster as dg

from .assets import request_verdict
from .jobs import verify_request_job
from .resources import build_resources
from .sensors import kafka_requests_sensor, purge_document_files_sensor, request_run_failure_sensor

defs = dg.Definitions(
    assets=[request_verdict],
    jobs=[verify_request_job],
    sensors=[kafka_requests_sensor, request_run_failure_sensor, purge_document_files_sensor],
    resources=build_resources(),
)
