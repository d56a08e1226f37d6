"""The verdict store: one ``ocr_requests`` row per request_id in Postgres, plus rejected events.

Plain Python (SQLAlchemy Core, parameterised SQL); the Dagster resources and the IO manager wrap it.
Status flow of a request: ``received -> downloading -> processing -> completed | failed``, plus
``invalid`` for events that never became runs.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import sqlalchemy as sa

from .engine.models import CheckResult, Verdict

if TYPE_CHECKING:
    from .events import RequestEvent

log = logging.getLogger(__name__)

RECEIVED = "received"
DOWNLOADING = "downloading"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
INVALID = "invalid"
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, INVALID})

RAW_EXCERPT_BYTES = 2048

# Names and keys are TEXT (the seed had VARCHAR(100)/(500)): no event that passed validation may fail
# the insert, or the sensor would stop on it. Timestamps carry time zones.
_CREATE_REQUESTS = """
CREATE TABLE IF NOT EXISTS ocr_requests (
    id BIGSERIAL PRIMARY KEY,
    request_id BIGINT UNIQUE NOT NULL,
    s3_path TEXT NOT NULL,
    iin VARCHAR(12) NOT NULL,
    first_name TEXT,
    last_name TEXT,
    second_name TEXT,
    status VARCHAR(50) NOT NULL,
    run_id VARCHAR(64),
    verdict BOOLEAN,
    errors JSONB,
    received_at TIMESTAMPTZ DEFAULT NOW(),
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    processing_time_seconds DECIMAL(10, 2),
    error_message TEXT,
    retry_count INTEGER NOT NULL DEFAULT 0
)
"""

# Columns the verdict contract and the Kafka source add to the seed's table (ALTERed in when missing,
# so a table created from the seed's DDL is upgraded in place).
_ADDED_COLUMNS = {
    "document_type": "VARCHAR(64)",
    "confidence": "DOUBLE PRECISION",
    "review_required": "BOOLEAN",
    "evidence": "JSONB",
    "pages": "INTEGER",
    "kafka_partition": "INTEGER",
    "kafka_offset": "BIGINT",
    "extra": "JSONB",
    "updated_at": "TIMESTAMPTZ NOT NULL DEFAULT NOW()",
    # the ETag of the document bytes last verified (backfills skip rows already verified on them)
    "s3_etag": "TEXT",
    # when the result event of the row's current terminal state reached KAFKA_RESULTS_TOPIC
    "result_published_at": "TIMESTAMPTZ",
}

_CREATE_INVALID = """
CREATE TABLE IF NOT EXISTS ocr_invalid_events (
    id BIGSERIAL PRIMARY KEY,
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    request_id BIGINT,
    reason TEXT NOT NULL,
    raw_size INTEGER,
    raw_excerpt TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (topic, kafka_partition, kafka_offset)
)
"""

# request_id is indexed by its UNIQUE constraint; a second index on it (as in the seed) would only
# cost writes.
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_ocr_requests_status ON ocr_requests (status)",
    "CREATE INDEX IF NOT EXISTS idx_ocr_requests_iin ON ocr_requests (iin)",
    "CREATE INDEX IF NOT EXISTS idx_ocr_requests_run_id ON ocr_requests (run_id)",
    "CREATE INDEX IF NOT EXISTS idx_ocr_invalid_events_request_id ON ocr_invalid_events (request_id)",
    "CREATE INDEX IF NOT EXISTS idx_ocr_requests_s3_path ON ocr_requests (s3_path)",
    "CREATE INDEX IF NOT EXISTS idx_ocr_requests_unpublished ON ocr_requests (updated_at) "
    "WHERE result_published_at IS NULL OR result_published_at < updated_at",
)

_SCHEMA_LOCK_ID = 0x6F63725F70  # pg_advisory_xact_lock key: concurrent ensure_schema calls queue up

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _engine_for(database_url: str) -> sa.Engine:
    """One pooled engine per URL and process (the sensor ticks and ops reuse it)."""
    with _engines_lock:
        engine = _engines.get(database_url)
        if engine is None:
            engine = sa.create_engine(database_url, pool_pre_ping=True, pool_size=2, max_overflow=2)
            _engines[database_url] = engine
        return engine


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _retried(method: _Method) -> _Method:
    """Retry ``method`` while the database cannot be reached (a restart, a failover: connection
    refused, "the database system is shutting down/starting up", a connection cut mid-statement) for
    up to ``VerdictStore.retry_seconds``. Only for statements that are safe to repeat: upserts and
    updates whose second application changes nothing, and reads."""

    @functools.wraps(method)
    def wrapper(self: "VerdictStore", *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                return method(self, *args, **kwargs)
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
                if time.monotonic() + delay > deadline:
                    raise
                reason = str(getattr(error, "orig", None) or type(error).__name__).strip().splitlines()[0]
                log.warning("verdict store unavailable (%s): %s retried in %.1f s", reason, method.__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    return wrapper  # type: ignore[return-value]


def _json(value: Any) -> Optional[str]:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def raw_excerpt(raw: Optional[bytes], limit: int = RAW_EXCERPT_BYTES) -> Optional[str]:
    """The first ``limit`` bytes of a raw Kafka value as text Postgres accepts (no NUL characters)."""
    if raw is None:
        return None
    text = bytes(raw[:limit]).decode("utf-8", errors="backslashreplace")
    return text.replace("\x00", "\\x00")


class VerdictStore:
    """Reads and writes request rows; every statement is parameterised, every write one transaction.

    Writes and reads that are safe to repeat are retried while the database is unreachable for up to
    ``retry_seconds`` (a Postgres restart must not cost a verdict)."""

    retry_seconds: float = 30.0

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.engine = _engine_for(database_url)
        self._schema_ready = False

    # -- schema -------------------------------------------------------------------------------------

    @_retried
    def schema_is_current(self) -> bool:
        """True when both tables exist with every column this code writes."""
        with self.engine.connect() as conn:
            columns = set(
                conn.execute(
                    sa.text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = 'ocr_requests'"
                    )
                ).scalars()
            )
            invalid_table = conn.execute(sa.text("SELECT to_regclass('ocr_invalid_events')")).scalar()
        return invalid_table is not None and set(_ADDED_COLUMNS) | {"request_id", "retry_count"} <= columns

    def ensure_schema(self) -> None:
        """Create or upgrade the tables and indexes; idempotent and safe to call from many processes."""
        if self._schema_ready:
            return
        if not self.schema_is_current():
            with self.engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_ID})
                conn.execute(sa.text(_CREATE_REQUESTS))
                for name, ddl in _ADDED_COLUMNS.items():
                    conn.execute(sa.text(f"ALTER TABLE ocr_requests ADD COLUMN IF NOT EXISTS {name} {ddl}"))
                conn.execute(sa.text(_CREATE_INVALID))
                for statement in _INDEXES:
                    conn.execute(sa.text(statement))
            log.info("verdict store schema created or upgraded")
        self._schema_ready = True

    # -- writes from the sensor ---------------------------------------------------------------------

    @_retried
    def record_received(
        self, event: "RequestEvent", partition: Optional[int] = None, offset: Optional[int] = None
    ) -> bool:
        """Insert the request as ``received``; True when a row was written.

        A request_id that already has a row is left alone (a replayed or duplicated event must not
        reset a verdict), except a row that is only an ``invalid`` placeholder: a valid event replaces it.
        """
        params = {
            **event.contract_fields(),
            "status": RECEIVED,
            "kafka_partition": partition,
            "kafka_offset": offset,
            "extra": _json(dict(event.extra or {})),
        }
        with self.engine.begin() as conn:
            written = conn.execute(
                sa.text(
                    """
                    INSERT INTO ocr_requests (request_id, s3_path, iin, last_name, first_name, second_name,
                                              status, kafka_partition, kafka_offset, extra)
                    VALUES (:request_id, :s3_path, :iin, :last_name, :first_name, :second_name,
                            :status, :kafka_partition, :kafka_offset, CAST(:extra AS JSONB))
                    ON CONFLICT (request_id) DO UPDATE SET
                        s3_path = EXCLUDED.s3_path, iin = EXCLUDED.iin, last_name = EXCLUDED.last_name,
                        first_name = EXCLUDED.first_name, second_name = EXCLUDED.second_name,
                        status = EXCLUDED.status, kafka_partition = EXCLUDED.kafka_partition,
                        kafka_offset = EXCLUDED.kafka_offset, extra = EXCLUDED.extra,
                        error_message = NULL, errors = NULL, received_at = NOW(), updated_at = NOW()
                    WHERE ocr_requests.status = 'invalid'
                    RETURNING id
                    """
                ),
                params,
            ).first()
        return written is not None

    @_retried
    def record_invalid(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        reason: str,
        request_id: Optional[int] = None,
        raw: Optional[bytes] = None,
    ) -> bool:
        """Record a rejected event by (topic, partition, offset); True when it was new.

        When the event named a request_id that has no row yet, an ``invalid`` row with the reason is
        written to ``ocr_requests`` too, so a lookup by request_id explains what happened.
        """
        with self.engine.begin() as conn:
            written = conn.execute(
                sa.text(
                    """
                    INSERT INTO ocr_invalid_events (topic, kafka_partition, kafka_offset, request_id,
                                                    reason, raw_size, raw_excerpt)
                    VALUES (:topic, :partition, :offset, :request_id, :reason, :raw_size, :raw_excerpt)
                    ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING
                    RETURNING id
                    """
                ),
                {
                    "topic": topic,
                    "partition": partition,
                    "offset": offset,
                    "request_id": request_id,
                    "reason": reason,
                    "raw_size": None if raw is None else len(raw),
                    "raw_excerpt": raw_excerpt(raw),
                },
            ).first()
            if request_id is not None:
                conn.execute(
                    sa.text(
                        """
                        INSERT INTO ocr_requests (request_id, s3_path, iin, status, error_message,
                                                  kafka_partition, kafka_offset)
                        VALUES (:request_id, '', '', 'invalid', :reason, :partition, :offset)
                        ON CONFLICT (request_id) DO NOTHING
                        """
                    ),
                    {"request_id": request_id, "reason": reason, "partition": partition, "offset": offset},
                )
        return written is not None

    @_retried
    def attach_run(self, request_id: int, run_id: str) -> None:
        """Write ``run_id`` on the row unless the run (or another) already did: a run that has started
        set it itself, together with a status this must not overwrite."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE ocr_requests SET run_id = :run_id, updated_at = NOW() "
                    "WHERE request_id = :request_id AND run_id IS NULL"
                ),
                {"request_id": request_id, "run_id": run_id},
            )

    def claim_failed_submission(self, request_id: int, message_prefix: str) -> bool:
        """Turn a ``failed`` row without a run whose message starts with ``message_prefix`` back into
        ``received``; True for the one caller that did."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    "UPDATE ocr_requests SET status = :received, error_message = NULL, errors = NULL, "
                    "completed_at = NULL, updated_at = NOW() "
                    "WHERE request_id = :request_id AND status = :failed AND run_id IS NULL "
                    "AND error_message LIKE :prefix RETURNING id"
                ),
                {"request_id": request_id, "received": RECEIVED, "failed": FAILED,
                 "prefix": message_prefix + "%"},
            ).first()
        return row is not None

    # -- writes from the run ------------------------------------------------------------------------

    @_retried
    def start_attempt(self, request_id: int, run_id: str, status: str = DOWNLOADING) -> Optional[int]:
        """Mark the request as being worked on by ``run_id``; returns its retry_count (None: no row).

        The first step of a run that differs from the row's run (a re-execution, a run retry) starts a
        new attempt: retry_count + 1, started_at now, the previous outcome cleared. Later steps of the
        same run only move the status.
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    """
                    UPDATE ocr_requests SET
                        retry_count = retry_count
                            + CASE WHEN run_id IS NOT NULL AND run_id <> :run_id THEN 1 ELSE 0 END,
                        started_at = CASE WHEN run_id IS DISTINCT FROM :run_id OR started_at IS NULL
                                          THEN NOW() ELSE started_at END,
                        completed_at = CASE WHEN run_id IS DISTINCT FROM :run_id THEN NULL ELSE completed_at END,
                        verdict = CASE WHEN run_id IS DISTINCT FROM :run_id THEN NULL ELSE verdict END,
                        errors = CASE WHEN run_id IS DISTINCT FROM :run_id THEN NULL ELSE errors END,
                        error_message = CASE WHEN run_id IS DISTINCT FROM :run_id THEN NULL ELSE error_message END,
                        run_id = :run_id,
                        status = :status,
                        updated_at = NOW()
                    WHERE request_id = :request_id
                    RETURNING retry_count
                    """
                ),
                {"request_id": request_id, "run_id": run_id, "status": status},
            ).first()
        return None if row is None else row.retry_count

    @_retried
    def save_verdict(self, request_id: int, verdict: Verdict, run_id: Optional[str]) -> None:
        """Upsert the verdict on the request's row: status ``completed`` with its evidence and timings."""
        evidence = {
            "checks": {name: _check_dict(check) for name, check in verdict.checks.items()},
            "timings": verdict.timings,
            "engine": verdict.engine,
        }
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    INSERT INTO ocr_requests (request_id, s3_path, iin, status, run_id, verdict, errors,
                        document_type, confidence, review_required, evidence, pages,
                        processing_time_seconds, started_at, completed_at)
                    VALUES (:request_id, '', '', 'completed', :run_id, :verdict, CAST(:errors AS JSONB),
                        :document_type, :confidence, :review_required, CAST(:evidence AS JSONB), :pages,
                        :processing_time_seconds, NOW(), NOW())
                    ON CONFLICT (request_id) DO UPDATE SET
                        status = 'completed',
                        run_id = COALESCE(EXCLUDED.run_id, ocr_requests.run_id),
                        verdict = EXCLUDED.verdict, errors = EXCLUDED.errors,
                        document_type = EXCLUDED.document_type, confidence = EXCLUDED.confidence,
                        review_required = EXCLUDED.review_required, evidence = EXCLUDED.evidence,
                        pages = EXCLUDED.pages, processing_time_seconds = EXCLUDED.processing_time_seconds,
                        error_message = NULL, completed_at = NOW(), updated_at = NOW()
                    """
                ),
                {
                    "request_id": request_id,
                    "run_id": run_id,
                    "verdict": bool(verdict.verdict),
                    "errors": _json(list(verdict.errors)),
                    "document_type": verdict.document_type,
                    "confidence": float(verdict.confidence),
                    "review_required": bool(verdict.review_required),
                    "evidence": _json(evidence),
                    "pages": int(verdict.pages),
                    "processing_time_seconds": round(float(verdict.processing_time_seconds), 2),
                },
            )

    @_retried
    def mark_failed(
        self,
        request_id: int,
        message: str,
        errors: Optional[list[dict[str, str]]] = None,
        run_id: Optional[str] = None,
    ) -> None:
        """Status ``failed`` with the message (and error entries such as S3_OBJECT_NOT_FOUND)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    UPDATE ocr_requests SET status = 'failed', error_message = :message,
                        errors = CAST(:errors AS JSONB), verdict = NULL,
                        run_id = COALESCE(:run_id, run_id), completed_at = NOW(), updated_at = NOW()
                    WHERE request_id = :request_id
                    """
                ),
                {"request_id": request_id, "message": message, "errors": _json(errors), "run_id": run_id},
            )

    @_retried
    def save_document_etag(self, request_id: int, etag: str) -> None:
        """Remember the ETag of the document bytes this attempt verifies."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE ocr_requests SET s3_etag = :etag WHERE request_id = :rid"),
                {"etag": etag, "rid": request_id},
            )

    @_retried
    def mark_results_published(self, published: dict[int, Any]) -> int:
        """Record that the result events of ``{request_id: updated_at}`` were acknowledged; a row that
        changed since (a newer attempt) stays unpublished. Returns how many rows were marked."""
        marked = 0
        with self.engine.begin() as conn:
            for request_id, updated_at in published.items():
                marked += conn.execute(
                    sa.text(
                        "UPDATE ocr_requests SET result_published_at = updated_at "
                        "WHERE request_id = :rid AND updated_at = :updated_at"
                    ),
                    {"rid": request_id, "updated_at": updated_at},
                ).rowcount
        return marked

    @_retried
    def mark_run_failed(self, request_id: int, run_id: str, message: str) -> bool:
        """Mark ``failed`` only if the row is still in progress under this run (or none); True if changed.

        For failures noticed after the fact (a run worker that died, a failure outside the ops): a row
        another run has since completed is left alone.
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    """
                    UPDATE ocr_requests SET status = 'failed', error_message = :message,
                        run_id = :run_id, completed_at = NOW(), updated_at = NOW()
                    WHERE request_id = :request_id AND (run_id = :run_id OR run_id IS NULL)
                      AND status IN ('received', 'downloading', 'processing')
                    RETURNING id
                    """
                ),
                {"request_id": request_id, "run_id": run_id, "message": message},
            ).first()
        return row is not None

    # -- reads --------------------------------------------------------------------------------------

    @_retried
    def get(self, request_id: int) -> Optional[dict[str, Any]]:
        """The request's row as a dict (JSONB as Python values, decimals as floats), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT * FROM ocr_requests WHERE request_id = :rid"), {"rid": request_id}
            ).mappings().first()
        return None if row is None else _plain(row)

    @_retried
    def rows_by_s3_path(self, s3_paths: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The request rows (not ``invalid``) of each object key, in one query; keys without rows are absent."""
        if not s3_paths:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT * FROM ocr_requests WHERE s3_path = ANY(:paths) AND status <> 'invalid' "
                    "ORDER BY request_id"
                ),
                {"paths": list(s3_paths)},
            ).mappings()
            found: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                found.setdefault(row["s3_path"], []).append(_plain(row))
        return found

    @_retried
    def unpublished_results(self, limit: int = 500) -> list[dict[str, Any]]:
        """Rows in a terminal status whose current state has no acknowledged result event, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT request_id, status, verdict, errors, document_type, error_message, completed_at, "
                    "updated_at FROM ocr_requests WHERE status IN ('completed', 'failed', 'invalid') "
                    "AND (result_published_at IS NULL OR result_published_at < updated_at) "
                    "ORDER BY updated_at LIMIT :limit"
                ),
                {"limit": limit},
            ).mappings()
            return [dict(row) for row in rows]

    @_retried
    def request_id_for_run(self, run_id: str) -> Optional[int]:
        """The request whose latest attempt is ``run_id``."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT request_id FROM ocr_requests WHERE run_id = :run_id"), {"run_id": run_id}
            ).scalar()

    def load_event(self, request_id: int) -> Optional["RequestEvent"]:
        """The request as an event again (for re-checks), or None when unknown or only an invalid row."""
        row = self.get(request_id)
        if row is None or row["status"] == INVALID:
            return None
        return event_from_row(row)

    def load_verdict(self, request_id: int) -> Optional[Verdict]:
        """The stored verdict of a completed request, or None."""
        row = self.get(request_id)
        if row is None or row["status"] != COMPLETED:
            return None
        evidence = row["evidence"] or {}
        return Verdict(
            verdict=bool(row["verdict"]),
            errors=list(row["errors"] or []),
            document_type=row["document_type"] or "other",
            confidence=float(row["confidence"] or 0.0),
            review_required=bool(row["review_required"]),
            checks={name: CheckResult(**check) for name, check in (evidence.get("checks") or {}).items()},
            pages=int(row["pages"] or 0),
            processing_time_seconds=float(row["processing_time_seconds"] or 0.0),
            engine=dict(evidence.get("engine") or {}),
            timings=dict(evidence.get("timings") or {}),
        )

    @_retried
    def invalid_events(self, topic: Optional[str] = None) -> list[dict[str, Any]]:
        """Rejected events, oldest first (optionally of one topic)."""
        query = "SELECT * FROM ocr_invalid_events"
        params: dict[str, Any] = {}
        if topic is not None:
            query += " WHERE topic = :topic"
            params["topic"] = topic
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(query + " ORDER BY kafka_partition, kafka_offset"), params).mappings()
            return [_plain(row) for row in rows]

    @_retried
    def status_counts(self) -> dict[str, int]:
        """Number of requests per status."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, COUNT(*) FROM ocr_requests GROUP BY status"))
            return {status: count for status, count in rows}


def _check_dict(check: Any) -> dict[str, Any]:
    if isinstance(check, CheckResult):
        return {
            "matched": check.matched,
            "score": check.score,
            "page": check.page,
            "snippet": check.snippet,
            "detail": check.detail,
        }
    return dict(check)


def event_from_row(row: dict[str, Any]) -> "RequestEvent":
    """A stored request row (not ``invalid``) as an event again."""
    from .events import RequestEvent

    return RequestEvent(
        request_id=row["request_id"],
        s3_path=row["s3_path"],
        iin=row["iin"],
        last_name=row["last_name"] or "",
        first_name=row["first_name"] or "",
        second_name=row["second_name"] or "",
        extra=row.get("extra") or {},
    )


def _plain(row: Any) -> dict[str, Any]:
    return {key: float(value) if isinstance(value, Decimal) else value for key, value in dict(row).items()}
