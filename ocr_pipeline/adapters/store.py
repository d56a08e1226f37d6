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
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import sqlalchemy as sa

from ..engine.models import CheckResult, Verdict
from .db_retry import while_database_restarts
from .db_url import psycopg2_url

if TYPE_CHECKING:
    from ..flows.events import RequestEvent

log = logging.getLogger(__name__)

RECEIVED = "received"
DOWNLOADING = "downloading"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
INVALID = "invalid"
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, INVALID})

# Who claimed a row's run submission (``submitted_by``): of ``/v1/kafka-verify`` and the Kafka sensor
# seeing the same request, only the claimant launches its run.
SUBMITTED_BY_API = "api"
SUBMITTED_BY_SENSOR = "sensor"
# the start of ``error_message`` on a row whose run could not be submitted (claimable again)
SUBMISSION_FAILED_PREFIX = "run submission failed"

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
    # why review_required is set (the engine's reason codes, e.g. "initials_only")
    "review_reasons": "JSONB",
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
    # a reviewer's decision on a review_required verdict (the engine's ``verdict`` is never overwritten;
    # the audit trail is ocr_reviews); cleared when a new engine verdict replaces the reviewed one
    "final_verdict": "BOOLEAN",
    "reviewed_at": "TIMESTAMPTZ",
    "reviewed_by": "TEXT",
    "review_decision": "VARCHAR(16)",
    # who claimed the run submission (SUBMITTED_BY_API or SUBMITTED_BY_SENSOR; NULL: nobody yet)
    "submitted_by": "VARCHAR(16)",
}

# Columns the seed's DDL made VARCHAR(100)/(500): ALTERed to TEXT when found shorter (binary compatible,
# no table rewrite).
_TEXT_COLUMNS = ("s3_path", "first_name", "last_name", "second_name")

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

# Every reviewer decision, kept for audit: who decided what on which engine verdict, and when.
_CREATE_REVIEWS = """
CREATE TABLE IF NOT EXISTS ocr_reviews (
    id BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES ocr_requests (request_id),
    decision VARCHAR(16) NOT NULL,
    reviewer TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    engine_verdict BOOLEAN,
    final_verdict BOOLEAN NOT NULL,
    review_reasons JSONB,
    run_id VARCHAR(64),
    decided_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)
"""

ACCEPT = "accept"
REJECT = "reject"
DECISIONS = {ACCEPT: True, REJECT: False}  # the decision -> the final verdict


class AttemptRefused(Exception):
    """A write from an attempt that does not own the row: another run's attempt is in progress on it
    (or has since taken it over). The row is left as it is."""

    def __init__(self, request_id: int, run_id: Optional[str], owner: Optional[str], status: str, what: str):
        super().__init__(
            f"request {request_id}: {what} by {_attempt_name(run_id)} refused: the row belongs to "
            f"{_attempt_name(owner)} (status {status})"
        )
        self.request_id = request_id
        self.run_id = run_id
        self.owner = owner
        self.status = status


def _attempt_name(run_id: Optional[str]) -> str:
    return f"run {run_id}" if run_id else "a writer outside any run"


class ReviewRefused(Exception):
    """A decision the store will not record: ``status`` 404 (no such request) or 409 (not awaiting
    review: never flagged, not completed, or already decided)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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
    "CREATE INDEX IF NOT EXISTS idx_ocr_requests_awaiting_review ON ocr_requests (completed_at) "
    "WHERE review_required AND reviewed_at IS NULL AND status = 'completed'",
    "CREATE INDEX IF NOT EXISTS idx_ocr_reviews_request_id ON ocr_reviews (request_id)",
)

_SCHEMA_LOCK_ID = 0x6F63725F70  # pg_advisory_xact_lock key: concurrent ensure_schema calls queue up

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _engine_for(database_url: str) -> sa.Engine:
    """One pooled engine per URL and process (the sensor ticks and ops reuse it); ``postgres://`` and
    ``postgresql://`` URLs use psycopg2."""
    database_url = psycopg2_url(database_url)
    with _engines_lock:
        engine = _engines.get(database_url)
        if engine is None:
            # hide_parameters: a database error's text would otherwise quote the IIN and the names
            engine = sa.create_engine(database_url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                                      hide_parameters=True)
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
        return while_database_restarts(self.retry_seconds)(method)(self, *args, **kwargs)

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
        """True when both tables exist with every column this code writes, names and keys as TEXT."""
        with self.engine.connect() as conn:
            columns = dict(
                conn.execute(
                    sa.text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = 'ocr_requests'"
                    )
                ).all()
            )
            invalid_table = conn.execute(sa.text("SELECT to_regclass('ocr_invalid_events')")).scalar()
            reviews_table = conn.execute(sa.text("SELECT to_regclass('ocr_reviews')")).scalar()
        return (
            invalid_table is not None
            and reviews_table is not None
            and set(_ADDED_COLUMNS) | {"request_id", "retry_count"} <= set(columns)
            and all(columns.get(name) == "text" for name in _TEXT_COLUMNS)
        )

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
                short = conn.execute(
                    sa.text(
                        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                        "AND table_name = 'ocr_requests' AND column_name = ANY(:names) AND data_type <> 'text'"
                    ),
                    {"names": list(_TEXT_COLUMNS)},
                ).scalars().all()
                for name in short:
                    conn.execute(sa.text(f"ALTER TABLE ocr_requests ALTER COLUMN {name} TYPE TEXT"))
                conn.execute(sa.text(_CREATE_INVALID))
                conn.execute(sa.text(_CREATE_REVIEWS))
                for statement in _INDEXES:
                    conn.execute(sa.text(statement))
            log.info("verdict store schema created or upgraded")
        self._schema_ready = True

    # -- writes from the sensor ---------------------------------------------------------------------

    @_retried
    def record_received(
        self, event: "RequestEvent", partition: Optional[int] = None, offset: Optional[int] = None,
        submitted_by: Optional[str] = None,
    ) -> bool:
        """Insert the request as ``received``; True when a row was written.

        A request_id that already has a row is left alone (a replayed or duplicated event must not
        reset a verdict), except a row that is only an ``invalid`` placeholder: a valid event replaces it.
        ``submitted_by`` claims the run submission with the insert (see :meth:`claim_submission`).
        """
        params = {
            **event.contract_fields(),
            "status": RECEIVED,
            "kafka_partition": partition,
            "kafka_offset": offset,
            "extra": _json(dict(event.extra or {})),
            "submitted_by": submitted_by,
        }
        with self.engine.begin() as conn:
            written = conn.execute(
                sa.text(
                    """
                    INSERT INTO ocr_requests (request_id, s3_path, iin, last_name, first_name, second_name,
                                              status, kafka_partition, kafka_offset, extra, submitted_by)
                    VALUES (:request_id, :s3_path, :iin, :last_name, :first_name, :second_name,
                            :status, :kafka_partition, :kafka_offset, CAST(:extra AS JSONB), :submitted_by)
                    ON CONFLICT (request_id) DO UPDATE SET
                        s3_path = EXCLUDED.s3_path, iin = EXCLUDED.iin, last_name = EXCLUDED.last_name,
                        first_name = EXCLUDED.first_name, second_name = EXCLUDED.second_name,
                        status = EXCLUDED.status, kafka_partition = EXCLUDED.kafka_partition,
                        kafka_offset = EXCLUDED.kafka_offset, extra = EXCLUDED.extra,
                        submitted_by = EXCLUDED.submitted_by,
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

    def claim_failed_submission(self, request_id: int, message_prefix: str = SUBMISSION_FAILED_PREFIX,
                                submitted_by: Optional[str] = None) -> bool:
        """Turn a ``failed`` row without a run whose message starts with ``message_prefix`` back into
        ``received`` (the submission claimed by ``submitted_by``, when given); True for the one caller
        that did."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    "UPDATE ocr_requests SET status = :received, error_message = NULL, errors = NULL, "
                    "completed_at = NULL, updated_at = NOW(), submitted_by = COALESCE(:who, submitted_by) "
                    "WHERE request_id = :request_id AND status = :failed AND run_id IS NULL "
                    "AND error_message LIKE :prefix RETURNING id"
                ),
                {"request_id": request_id, "received": RECEIVED, "failed": FAILED,
                 "prefix": message_prefix + "%", "who": submitted_by},
            ).first()
        return row is not None

    @_retried
    def claim_submission(self, request_id: int, submitted_by: str) -> Optional[str]:
        """Claim the run submission of a recorded request for ``submitted_by``, atomically (one
        conditional UPDATE): taken when nobody claimed it yet, when ``submitted_by`` already holds it (a
        replay; so a retried statement finds its own claim), or when the holder's submission failed
        (the row goes back to ``received``). Returns None when the caller may submit, else who holds
        the claim (the caller must not submit)."""
        failed_submission = "(status = :failed AND run_id IS NULL AND error_message LIKE :prefix)"
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    f"""
                    UPDATE ocr_requests SET submitted_by = :who,
                        status = CASE WHEN {failed_submission} THEN :received ELSE status END,
                        error_message = CASE WHEN {failed_submission} THEN NULL ELSE error_message END,
                        errors = CASE WHEN {failed_submission} THEN NULL ELSE errors END,
                        completed_at = CASE WHEN {failed_submission} THEN NULL ELSE completed_at END,
                        updated_at = CASE WHEN {failed_submission} THEN NOW() ELSE updated_at END
                    WHERE request_id = :request_id AND status <> :invalid
                      AND (submitted_by IS NULL OR submitted_by = :who OR {failed_submission})
                    RETURNING id
                    """
                ),
                {"request_id": request_id, "who": submitted_by, "received": RECEIVED, "failed": FAILED,
                 "invalid": INVALID, "prefix": SUBMISSION_FAILED_PREFIX + "%"},
            ).first()
            if row is not None:
                return None
            holder = conn.execute(
                sa.text("SELECT submitted_by, status FROM ocr_requests WHERE request_id = :rid"),
                {"rid": request_id},
            ).first()
        if holder is None:
            return "nobody (no such request)"
        return holder.submitted_by or f"nobody (status {holder.status})"

    # -- writes from the run ------------------------------------------------------------------------

    @_retried
    def start_attempt(self, request_id: int, run_id: Optional[str], status: str = DOWNLOADING, *,
                      parent_run_id: Optional[str] = None, leave_submitted_rows: bool = False) -> Optional[int]:
        """Claim the request for ``run_id`` and move its status; returns its retry_count (None: no row).

        The row's ``run_id`` is its owner. The claim is one conditional UPDATE: ``run_id`` takes the row
        when it owns it already (a later step, a step retry of the same run), when nobody does, when
        the owner is ``parent_run_id`` (a re-execution or a ``run_retries`` retry taking over from its
        parent), or when the owner's attempt is over (``completed``, ``failed``). Another run's attempt
        still in progress (``received`` with its run attached, ``downloading``, ``processing``) keeps
        the row: :class:`AttemptRefused` is raised. With ``leave_submitted_rows`` (batch re-checks) a
        ``received`` row whose run was claimed for submission (``submitted_by``) is left to that run too.

        A new owner starts a new attempt: retry_count + 1, started_at now, the previous outcome cleared.
        """
        claim = (
            "(run_id = :run_id OR run_id = :parent_run_id"
            " OR (run_id IS NULL AND NOT (:leave_submitted AND status = 'received' AND submitted_by IS NOT NULL))"
            " OR (run_id IS NOT NULL AND status NOT IN ('received', 'downloading', 'processing')))"
        )
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    f"""
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
                    WHERE request_id = :request_id AND {claim}
                    RETURNING retry_count
                    """
                ),
                {"request_id": request_id, "run_id": run_id, "status": status, "parent_run_id": parent_run_id,
                 "leave_submitted": leave_submitted_rows},
            ).first()
            if row is None:
                self._refuse(conn, request_id, run_id, f"starting an attempt ({status})")
                return None
        return row.retry_count

    def _refuse(self, conn: sa.Connection, request_id: int, run_id: Optional[str], what: str) -> None:
        """Raise :class:`AttemptRefused` (logged) when the row exists: a write its owner did not make."""
        owner = conn.execute(
            sa.text("SELECT run_id, status FROM ocr_requests WHERE request_id = :rid"), {"rid": request_id}
        ).first()
        if owner is None:
            return
        refused = AttemptRefused(request_id, run_id, owner.run_id, owner.status, what)
        log.warning("%s", refused)
        raise refused

    @_retried
    def save_verdict(self, request_id: int, verdict: Verdict, run_id: Optional[str]) -> Optional[float]:
        """Upsert the verdict on the request's row: status ``completed`` with its evidence and timings.
        Returns the seconds since the request was received (the end-to-end latency), None if unknown.

        Only the row's owner writes it (its ``run_id``, or anyone while it has none; ``run_id`` None
        is a writer outside any run, e.g. ``/v1/verify``): a verdict of a stale attempt is refused
        with :class:`AttemptRefused`, logged, and the row keeps the newer attempt's state."""
        evidence = {
            "checks": {name: _check_dict(check) for name, check in verdict.checks.items()},
            "timings": verdict.timings,
            "engine": verdict.engine,
        }
        with self.engine.begin() as conn:
            written = conn.execute(
                sa.text(
                    """
                    INSERT INTO ocr_requests (request_id, s3_path, iin, status, run_id, verdict, errors,
                        document_type, confidence, review_required, review_reasons, evidence, pages,
                        processing_time_seconds, started_at, completed_at)
                    VALUES (:request_id, '', '', 'completed', :run_id, :verdict, CAST(:errors AS JSONB),
                        :document_type, :confidence, :review_required, CAST(:review_reasons AS JSONB),
                        CAST(:evidence AS JSONB), :pages, :processing_time_seconds, NOW(), NOW())
                    ON CONFLICT (request_id) DO UPDATE SET
                        status = 'completed',
                        run_id = COALESCE(EXCLUDED.run_id, ocr_requests.run_id),
                        verdict = EXCLUDED.verdict, errors = EXCLUDED.errors,
                        document_type = EXCLUDED.document_type, confidence = EXCLUDED.confidence,
                        review_required = EXCLUDED.review_required, review_reasons = EXCLUDED.review_reasons,
                        evidence = EXCLUDED.evidence,
                        pages = EXCLUDED.pages, processing_time_seconds = EXCLUDED.processing_time_seconds,
                        error_message = NULL, completed_at = NOW(), updated_at = NOW(),
                        final_verdict = NULL, reviewed_at = NULL, reviewed_by = NULL, review_decision = NULL
                    WHERE ocr_requests.run_id IS NULL OR ocr_requests.run_id = EXCLUDED.run_id
                    RETURNING EXTRACT(EPOCH FROM clock_timestamp() - received_at) AS seconds
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
                    "review_reasons": _json(list(verdict.review_reasons)),
                    "evidence": _json(evidence),
                    "pages": int(verdict.pages),
                    "processing_time_seconds": round(float(verdict.processing_time_seconds), 2),
                },
            ).first()
            if written is None:
                self._refuse(conn, request_id, run_id, "saving a verdict")
                return None
        return None if written.seconds is None else float(written.seconds)

    @_retried
    def mark_failed(
        self,
        request_id: int,
        message: str,
        errors: Optional[list[dict[str, str]]] = None,
        run_id: Optional[str] = None,
    ) -> bool:
        """Status ``failed`` with the message (and error entries such as S3_OBJECT_NOT_FOUND); True when
        written. Only the row's owner (``run_id``; None: a writer outside any run, for rows no run owns)
        marks it: a stale attempt's failure is refused and logged, never applied (False), so it cannot
        undo a newer attempt's verdict. Not raised: a failure handler must not lose its own error."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    """
                    UPDATE ocr_requests SET status = 'failed', error_message = :message,
                        errors = CAST(:errors AS JSONB), verdict = NULL,
                        run_id = COALESCE(:run_id, run_id), completed_at = NOW(), updated_at = NOW()
                    WHERE request_id = :request_id AND (run_id IS NULL OR run_id = :run_id)
                    RETURNING id
                    """
                ),
                {"request_id": request_id, "message": message, "errors": _json(errors), "run_id": run_id},
            ).first()
            if row is None:
                try:
                    self._refuse(conn, request_id, run_id, "marking it failed")
                except AttemptRefused:
                    return False
        return row is not None

    @_retried
    def save_document_etag(self, request_id: int, etag: str, run_id: Optional[str] = None) -> None:
        """Remember the ETag of the document bytes this attempt verifies (with ``run_id``: only while
        that run owns the row)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE ocr_requests SET s3_etag = :etag WHERE request_id = :rid "
                        "AND (CAST(:run_id AS TEXT) IS NULL OR run_id = :run_id)"),
                {"etag": etag, "rid": request_id, "run_id": run_id},
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

    def record_review(self, request_id: int, decision: str, reviewer: str, comment: str = "") -> dict[str, Any]:
        """Record a reviewer's decision on a verdict awaiting review; returns the audit entry.

        In one transaction: an ``ocr_reviews`` row (the engine's verdict, the final one, who, when, why)
        and the request row's ``final_verdict``/``reviewed_*`` (its ``verdict`` stays the engine's), with
        ``updated_at`` moved so the result outbox publishes the row again. Only one decision per engine
        verdict: a second one raises :class:`ReviewRefused` (409), as does a request that is not
        awaiting review; an unknown request 404. Not retried: a second attempt would be refused."""
        final = DECISIONS[decision]
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    "UPDATE ocr_requests SET final_verdict = :final, review_decision = :decision, "
                    "reviewed_by = :reviewer, reviewed_at = NOW(), updated_at = NOW() "
                    "WHERE request_id = :rid AND status = :completed AND review_required AND reviewed_at IS NULL "
                    "RETURNING verdict, review_reasons, run_id, reviewed_at"
                ),
                {"final": final, "decision": decision, "reviewer": reviewer, "rid": request_id,
                 "completed": COMPLETED},
            ).mappings().first()
            if row is None:
                current = conn.execute(
                    sa.text("SELECT status, review_required, reviewed_by, reviewed_at, review_decision "
                            "FROM ocr_requests WHERE request_id = :rid"), {"rid": request_id}
                ).mappings().first()
                if current is None or current["status"] == INVALID:
                    raise ReviewRefused(404, f"no request {request_id}")
                if current["reviewed_at"] is not None:
                    raise ReviewRefused(409, f"request {request_id} was already decided "
                                             f"({current['review_decision']}) at {current['reviewed_at'].isoformat()}")
                raise ReviewRefused(409, f"request {request_id} is not awaiting review "
                                         f"(status {current['status']}, review_required {current['review_required']})")
            entry = conn.execute(
                sa.text(
                    "INSERT INTO ocr_reviews (request_id, decision, reviewer, comment, engine_verdict, final_verdict, "
                    "review_reasons, run_id, decided_at) VALUES (:rid, :decision, :reviewer, :comment, :engine, "
                    ":final, CAST(:reasons AS JSONB), :run_id, :decided_at) RETURNING *"
                ),
                {"rid": request_id, "decision": decision, "reviewer": reviewer, "comment": comment,
                 "engine": row["verdict"], "final": final, "reasons": _json(row["review_reasons"]),
                 "run_id": row["run_id"], "decided_at": row["reviewed_at"]},
            ).mappings().one()
        return _plain(entry)

    @_retried
    def review_queue(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Requests (positive ids) whose completed verdict awaits a reviewer's decision, oldest verdict
        first, one page of them; and how many await in all."""
        awaiting = ("FROM ocr_requests WHERE status = :completed AND review_required AND reviewed_at IS NULL "
                    "AND request_id > 0")
        with self.engine.connect() as conn:
            total = conn.execute(sa.text(f"SELECT COUNT(*) {awaiting}"), {"completed": COMPLETED}).scalar()
            rows = conn.execute(
                sa.text(f"SELECT * {awaiting} ORDER BY completed_at, request_id LIMIT :limit OFFSET :offset"),
                {"completed": COMPLETED, "limit": limit, "offset": offset},
            ).mappings()
            return [_plain(row) for row in rows], int(total or 0)

    @_retried
    def reviews_of(self, request_id: int) -> list[dict[str, Any]]:
        """The audit trail of a request's review decisions, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT * FROM ocr_reviews WHERE request_id = :rid ORDER BY decided_at, id"),
                {"rid": request_id},
            ).mappings()
            return [_plain(row) for row in rows]

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
        """Rows in a terminal status whose current state has no acknowledged result event, oldest first.

        Only real requests (positive ids): a backfill's synthetic negative ids were never asked for by
        anyone listening on the results topic."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT request_id, status, verdict, errors, document_type, error_message, completed_at, "
                    "updated_at, review_required, review_reasons, final_verdict, review_decision, reviewed_by, "
                    "reviewed_at FROM ocr_requests WHERE status IN ('completed', 'failed', 'invalid') "
                    "AND request_id > 0 "
                    "AND (result_published_at IS NULL OR result_published_at < updated_at) "
                    "ORDER BY updated_at LIMIT :limit"
                ),
                {"limit": limit},
            ).mappings()
            return [dict(row) for row in rows]

    @_retried
    def received_without_run(self, older_than_seconds: float, limit: int = 100) -> list[dict[str, Any]]:
        """Requests (positive ids) ``received`` more than ``older_than_seconds`` ago that no run has
        taken up (no run id), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT * FROM ocr_requests WHERE status = :received AND run_id IS NULL AND request_id > 0 "
                    "AND received_at < NOW() - make_interval(secs => :seconds) ORDER BY received_at LIMIT :limit"
                ),
                {"received": RECEIVED, "seconds": float(older_than_seconds), "limit": limit},
            ).mappings()
            return [_plain(row) for row in rows]

    @_retried
    def in_progress_by_run(self, older_than_seconds: float, limit: int = 500) -> dict[str, list[int]]:
        """Requests a run holds in progress (``received``, ``downloading``, ``processing`` with a run id)
        untouched for more than ``older_than_seconds``, by the run that holds them."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT run_id, request_id FROM ocr_requests WHERE run_id IS NOT NULL "
                    "AND status IN ('received', 'downloading', 'processing') "
                    "AND updated_at < NOW() - make_interval(secs => :seconds) ORDER BY updated_at LIMIT :limit"
                ),
                {"seconds": float(older_than_seconds), "limit": limit},
            )
            held: dict[str, list[int]] = {}
            for run_id, request_id in rows:
                held.setdefault(run_id, []).append(request_id)
            return held

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
            review_reasons=list(row.get("review_reasons") or []),
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
    from ..flows.events import RequestEvent

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
