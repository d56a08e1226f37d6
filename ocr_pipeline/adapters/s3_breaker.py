"""A circuit breaker for S3, its state one row of Postgres (``ocr_s3_breaker``) so that the Kafka
sensor (in the daemon / code server) and the downloads (in the run workers) share it.

- Closed: downloads go on as usual. A download that fails for a transient reason (connection errors,
  timeouts, 5xx; never 404/403) counts a failure; ``S3_BREAKER_FAILURES`` of them within
  ``S3_BREAKER_WINDOW_SECONDS`` open the breaker.
- Open: the sensor creates no runs (the backlog stays in Kafka as lag; the tick says why). Each further
  failure re-opens it, so it stays open while anybody still sees S3 failing.
- Half-open: ``S3_BREAKER_COOLDOWN_SECONDS`` after the last failure, the sensor probes with one
  ``head_bucket``; an answer closes the breaker, a failure re-opens it. Any successful download closes it too.

Runs already in flight wait for S3 meanwhile (``DocumentBucketResource.download``, bounded by
``S3_OUTAGE_WAIT_SECONDS``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa

from ocr_pipeline.adapters import config

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

_DDL = """CREATE TABLE IF NOT EXISTS ocr_s3_breaker (
    name TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    first_failure_at TIMESTAMPTZ,
    opened_at TIMESTAMPTZ
)"""

_FAILURE = sa.text("""
INSERT INTO ocr_s3_breaker AS b (name, failures, first_failure_at) VALUES (:name, 1, now())
ON CONFLICT (name) DO UPDATE SET
    failures = CASE WHEN b.first_failure_at IS NULL OR b.first_failure_at < now() - make_interval(secs => :window)
                    THEN 1 ELSE b.failures + 1 END,
    first_failure_at = CASE
        WHEN b.first_failure_at IS NULL OR b.first_failure_at < now() - make_interval(secs => :window)
        THEN now() ELSE b.first_failure_at END
RETURNING failures, opened_at IS NOT NULL
""")
_OPEN = sa.text("UPDATE ocr_s3_breaker SET opened_at = now() WHERE name = :name")
_SUCCESS = sa.text("UPDATE ocr_s3_breaker SET failures = 0, first_failure_at = NULL, opened_at = NULL "
                   "WHERE name = :name AND (failures > 0 OR opened_at IS NOT NULL) RETURNING opened_at IS NOT NULL")
_STATE = sa.text("SELECT EXTRACT(EPOCH FROM now() - opened_at) FROM ocr_s3_breaker "
                 "WHERE name = :name AND opened_at IS NOT NULL")


_tables_ready: set[str] = set()


@dataclass
class S3Breaker:
    """The shared breaker (see the module docstring). Its methods never raise for a Postgres problem:
    the breaker is advice, a download or a tick must not fail because of it (they log and go on)."""

    database_url: str
    threshold: int = config.S3_BREAKER_FAILURES.default
    window_seconds: float = config.S3_BREAKER_WINDOW_SECONDS.default
    cooldown_seconds: float = config.S3_BREAKER_COOLDOWN_SECONDS.default
    name: str = "s3"

    def __post_init__(self) -> None:
        from .store import _engine_for

        self.engine = _engine_for(self.database_url)

    @classmethod
    def from_env(cls, database_url: Optional[str] = None) -> Optional["S3Breaker"]:
        """The breaker configured by the environment (in ``database_url``, default ``DATABASE_URL``);
        None when ``S3_BREAKER_FAILURES`` is 0."""
        threshold = config.S3_BREAKER_FAILURES.get()
        if threshold == 0:
            return None
        return cls(database_url or config.DATABASE_URL.get(), threshold, config.S3_BREAKER_WINDOW_SECONDS.get(),
                   config.S3_BREAKER_COOLDOWN_SECONDS.get())

    def _execute(self, statement: Any, **params: Any) -> Any:
        with self.engine.begin() as conn:
            if self.database_url not in _tables_ready:  # once per database and process
                conn.execute(sa.text(_DDL))
            result = conn.execute(statement, {"name": self.name, **params})
            row = result.first() if result.returns_rows else None
        _tables_ready.add(self.database_url)  # committed
        return row

    def record_failure(self) -> None:
        """A transient S3 failure: counted; at the threshold (or when already open) the breaker (re)opens."""
        try:
            failures, already_open = self._execute(_FAILURE, window=self.window_seconds)
            if failures >= self.threshold or already_open:
                self._execute(_OPEN)
                if not already_open:
                    log.warning("S3 circuit breaker open: %d transient failures within %.0f s", failures,
                                self.window_seconds)
        except sa.exc.SQLAlchemyError as error:
            log.warning("S3 circuit breaker: failure not recorded: %s", type(error).__name__)

    def record_success(self) -> None:
        """S3 answered: the breaker closes and the count starts again."""
        try:
            row = self._execute(_SUCCESS)
            if row is not None and row[0]:
                log.warning("S3 circuit breaker closed: S3 answers again")
        except sa.exc.SQLAlchemyError as error:
            log.warning("S3 circuit breaker: success not recorded: %s", type(error).__name__)

    def state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (open and the cool-down over); closed if Postgres fails."""
        try:
            row = self._execute(_STATE)
        except sa.exc.SQLAlchemyError as error:
            log.warning("S3 circuit breaker: state not read: %s", type(error).__name__)
            return CLOSED
        if row is None:
            return CLOSED
        return OPEN if float(row[0]) < self.cooldown_seconds else HALF_OPEN

    def probe(self, client: Any, bucket: str) -> bool:
        """One cheap ``head_bucket``: True (and closed) when S3 answers, even with 403/404; False (and
        re-opened) on a transient failure."""
        from .s3 import _is_transient

        try:
            client.head_bucket(Bucket=bucket)
        except Exception as error:
            if _is_transient(error):
                self.record_failure()
                return False
        self.record_success()
        return True

    def gate(self, client: Any, bucket: str) -> Optional[str]:
        """For the sensor: None when runs may be created, else why not (open, or the probe failed)."""
        state = self.state()
        if state == CLOSED:
            return None
        if state == HALF_OPEN and self.probe(client, bucket):
            return None
        return (f"S3 circuit breaker {state if state == OPEN else 'open (probe failed)'}: S3 keeps failing; "
                "no runs created, the events wait in Kafka")
