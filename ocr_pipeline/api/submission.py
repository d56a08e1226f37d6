"""``/v1/kafka-verify``'s core: record the request, then submit exactly one run for it.

Who submits is decided by Postgres: ``VerdictStore.record_received`` inserts the row only when the
request_id has none (``INSERT … ON CONFLICT DO NOTHING``) and claims the submission in the same
statement (``submitted_by = 'api'``), so of any number of concurrent calls exactly one writes it, and
only that caller submits. The Kafka sensor claims the row too before it requests a run
(``VerdictStore.claim_submission``, a conditional UPDATE): a row the API claimed gets no sensor run, and
a row the sensor recorded first answers "already submitted" here, with the sensor's run when it exists.
Before submitting, the winner looks for a run already tagged ``dagster/run_key = request_id`` (a launch
whose answer was lost), and after submitting it writes the run id onto the row.

The run is the sensor's: ``run_request_for(event)`` gives its config and tags, plus the sensor's
``dagster/run_key`` and ``dagster/sensor_name`` tags, so the sensor's own run-key check counts this
run too and an event that later also arrives through Kafka does not start a second one.
``ocr_pipeline/submitted_by = api`` tells the two apart.

A failed submission leaves the row ``failed`` with a message starting ``run submission failed``; a
later call with the same event may claim it again (a conditional UPDATE, so again only one caller wins).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

from ..adapters.store import FAILED, SUBMISSION_FAILED_PREFIX, SUBMITTED_BY_API, VerdictStore
from ..defs.names import KAFKA_REQUESTS_SENSOR, VERIFY_REQUEST_JOB
from ..engine.iin import mask_iin
from .dagster_client import RUN_KEY_TAG, SENSOR_NAME_TAG, DagsterClient, DagsterError, DagsterUnavailable

log = logging.getLogger(__name__)

SUBMITTED_BY_TAG = "ocr_pipeline/submitted_by"

_EVENT_FIELDS = ("s3_path", "iin", "last_name", "first_name", "second_name")


class RequestConflict(Exception):
    """The request_id is already taken by a request with other content."""


class SubmissionFailed(Exception):
    """The run could not be submitted; the row says ``failed`` and a retry may claim it again."""

    def __init__(self, message: str, row: Optional[dict[str, Any]]):
        super().__init__(message)
        self.row = row


@dataclass
class SubmitOutcome:
    """The request's row after the call; ``created`` is False for a duplicate."""

    row: dict[str, Any]
    created: bool
    run_id: Optional[str]


def run_tags_and_config(event: Any, traceparent: Optional[str] = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The sensor's run config and tags for ``event``, plus the tags Dagster's sensor machinery adds
    (``traceparent``: the trace the run's spans continue)."""
    from ..defs.sensors.kafka_requests import run_request_for

    run_request = run_request_for(event, traceparent)
    tags = dict(run_request.tags)
    tags[RUN_KEY_TAG] = run_request.run_key
    tags[SENSOR_NAME_TAG] = KAFKA_REQUESTS_SENSOR
    tags[SUBMITTED_BY_TAG] = "api"
    return dict(run_request.run_config), tags


def same_request(row: dict[str, Any], event: Any) -> bool:
    """The stored row describes the same request as ``event`` (path, IIN and names)."""
    return all((row.get(name) or "") == (getattr(event, name) or "") for name in _EVENT_FIELDS)


def is_failed_submission(row: dict[str, Any]) -> bool:
    """The row is the trace of a submission that failed (no run was ever attached)."""
    return (
        row.get("status") == FAILED
        and row.get("run_id") is None
        and (row.get("error_message") or "").startswith(SUBMISSION_FAILED_PREFIX)
    )


class RequestSubmitter:
    """Records requests in ``store`` and submits their runs through ``dagster``."""

    def __init__(self, store: VerdictStore, dagster: DagsterClient):
        self.store = store
        self.dagster = dagster

    def existing_run_id(self, request_id: int) -> Optional[str]:
        """The newest run tagged with this request's run key, if any."""
        runs = self.dagster.find_runs(VERIFY_REQUEST_JOB, {RUN_KEY_TAG: str(request_id)}, limit=1)
        return runs[0].run_id if runs else None

    def submit(self, event: Any, traceparent: Optional[str] = None) -> SubmitOutcome:
        """Record ``event`` and submit its run once (``traceparent`` becomes its run tag). Raises
        :class:`RequestConflict` (the request_id names another request) or :class:`SubmissionFailed`."""
        request_id = event.request_id
        if not self.store.record_received(event, submitted_by=SUBMITTED_BY_API):
            row = self.store.get(request_id)
            if row is None:  # deleted in between: try once more
                if not self.store.record_received(event, submitted_by=SUBMITTED_BY_API):
                    return self._already_submitted(request_id)
            elif not same_request(row, event):
                raise RequestConflict(f"request_id {request_id} is already used by a different request")
            elif not (
                is_failed_submission(row)
                and self.store.claim_failed_submission(request_id, SUBMISSION_FAILED_PREFIX,
                                                       submitted_by=SUBMITTED_BY_API)
            ):
                return self._already_submitted(request_id, row)
        log.info("request %s (IIN %s) recorded by the API; submitting its run", request_id, mask_iin(event.iin))
        run_id = self._submit_once(event, traceparent)
        self.store.attach_run(request_id, run_id)
        row = self.store.get(request_id) or {}
        return SubmitOutcome(row=row, created=True, run_id=run_id)

    def _already_submitted(self, request_id: int, row: Optional[dict[str, Any]] = None) -> SubmitOutcome:
        """The answer to a duplicate: the row and the run on it (the route looks a run still waiting to
        start up by its run key)."""
        row = row if row is not None else (self.store.get(request_id) or {})
        return SubmitOutcome(row=row, created=False, run_id=row.get("run_id"))

    def _submit_once(self, event: Any, traceparent: Optional[str]) -> str:
        request_id = event.request_id
        try:
            existing = self.existing_run_id(request_id)
            if existing is not None:
                log.info("request %s already has run %s: not submitting another", request_id, existing)
                return existing
            run_config, tags = run_tags_and_config(event, traceparent)
            try:
                return self.dagster.submit_run(VERIFY_REQUEST_JOB, run_config, tags)
            except DagsterUnavailable as error:
                if not error.maybe_done:
                    raise
                log.warning("submission of request %s may have happened (%s): looking it up", request_id, error)
                existing = self.existing_run_id(request_id)
                if existing is None:
                    raise
                return existing
        except DagsterError as error:
            message = f"{SUBMISSION_FAILED_PREFIX}: {error}"
            log.error("request %s: %s", request_id, message)
            self.store.mark_failed(request_id, message)
            raise SubmissionFailed(message, self.store.get(request_id)) from None
