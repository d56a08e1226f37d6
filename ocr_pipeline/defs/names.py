"""The names of the code location's jobs, sensors and schedules, defined once.

They are what analysts see in the Dagster UI and what GraphQL callers select. The HTTP API submits and
finds runs by them (``api/submission.py``) without importing Dagster, so this module imports nothing.
"""

# jobs
VERIFY_REQUEST_JOB = "verify_request"  # one run per request (kafka_requests_sensor, the API)
PREFIX_BACKFILL_JOB = "prefix_backfill_job"  # materialises the asset prefix_backfill, one partition per run
REGISTER_PREFIX_JOB = "register_prefix"
RECHECK_REQUESTS_JOB = "recheck_requests"
DAILY_SUMMARY_JOB = "daily_verdict_summary_job"

# schedules
DAILY_SUMMARY_SCHEDULE = "daily_verdict_summary_job_schedule"

# sensors
KAFKA_REQUESTS_SENSOR = "kafka_requests_sensor"
REQUEST_RUN_FAILURE_SENSOR = "request_run_failure_sensor"
DOCUMENT_PREFIX_SENSOR = "document_prefix_sensor"
RESULT_EVENTS_SENSOR = "result_events_sensor"
STUCK_REQUESTS_SENSOR = "stuck_requests_sensor"
LOST_RUNS_SENSOR = "lost_runs_sensor"
