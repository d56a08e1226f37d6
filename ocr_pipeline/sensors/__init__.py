"""Sensors of the code location."""

from .kafka_requests import kafka_requests_sensor
from .run_failures import request_run_failure_sensor

__all__ = ["kafka_requests_sensor", "request_run_failure_sensor"]
