"""Sensors of the code location."""

from .document_prefixes import document_prefix_sensor
from .kafka_requests import kafka_requests_sensor
from .lost_runs import lost_runs_sensor
from .result_events import result_events_sensor
from .run_failures import request_run_failure_sensor
from .stuck_requests import stuck_requests_sensor

__all__ = [
    "document_prefix_sensor",
    "kafka_requests_sensor",
    "lost_runs_sensor",
    "request_run_failure_sensor",
    "result_events_sensor",
    "stuck_requests_sensor",
]
