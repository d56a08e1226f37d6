"""The per-request job: materialises ``request_verdict`` with the in-process executor.

In-process: all steps in the run worker's process (measured 2.8 s vs 10.3 s for a process per step), which
is also what lets the stages hand the document over in memory (``resources/stage_memory.py``).
"""

import dagster as dg

from .assets import request_verdict
from .names import VERIFY_REQUEST_JOB

verify_request_job = dg.define_asset_job(
    VERIFY_REQUEST_JOB,
    selection=[request_verdict],
    executor_def=dg.in_process_executor,
    description="Verify one request's document (launched by kafka_requests_sensor, one run per request_id).",
)
