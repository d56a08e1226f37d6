"""The verdict store against a real Postgres."""

from __future__ import annotations

import threading

import psycopg2
import pytest
import sqlalchemy as sa

from ocr_pipeline.adapters.store import (
    RAW_EXCERPT_BYTES,
    SUBMISSION_FAILED_PREFIX,
    SUBMITTED_BY_API,
    SUBMITTED_BY_SENSOR,
    AttemptRefused,
    VerdictStore,
)
from ocr_pipeline.engine.models import CheckResult, Verdict
from ocr_pipeline.flows.events import RequestEvent
from ocr_pipeline_devtools import services
from ocr_pipeline_devtools.dagster_fixtures import make_iin, new_request_id

pytestmark = pytest.mark.integration

SEED_DDL = """
CREATE TABLE ocr_requests (
    id SERIAL PRIMARY KEY,
    request_id BIGINT UNIQUE NOT NULL,
    s3_path VARCHAR(500) NOT NULL,
    iin VARCHAR(12) NOT NULL,
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    second_name VARCHAR(100),
    status VARCHAR(50) NOT NULL,
    run_id VARCHAR(36),
    verdict BOOLEAN,
    errors JSONB,
    received_at TIMESTAMP DEFAULT NOW(),
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    processing_time_seconds DECIMAL(10, 2),
    error_message TEXT,
    retry_count INTEGER DEFAULT 0
);
CREATE INDEX idx_request_id ON ocr_requests(request_id);
CREATE INDEX idx_status ON ocr_requests(status);
CREATE INDEX idx_iin ON ocr_requests(iin);
"""


@pytest.fixture(scope="module")
def store(pg_database_url) -> VerdictStore:
    store = VerdictStore(pg_database_url)
    store.ensure_schema()
    return store


def _event(request_id: int, **overrides) -> RequestEvent:
    fields = dict(request_id=request_id, s3_path=f"docs/{request_id}.pdf", iin=make_iin(),
                  last_name="Иванова", first_name="Мария", second_name="Петровна")
    fields.update(overrides)
    return RequestEvent(**fields)


def _verdict(ok: bool = True) -> Verdict:
    return Verdict(
        verdict=ok,
        errors=[] if ok else [{"code": "NAME_NOT_FOUND", "message": "no name"}],
        document_type="maternity_leave_order",
        confidence=0.93,
        checks={"name": CheckResult(matched=ok, score=0.97, page=1, snippet="Ивановой Марии Петровне",
                                    detail={"form": "dat"})},
        pages=1,
        processing_time_seconds=1.234,
        engine={"tesseract": "5.3.0"},
        timings={"ocr": 0.8},
    )


def test_schema_is_idempotent_and_safe_concurrently():
    with services.temporary_postgres_database(prefix="ocr_store_schema") as url:
        errors: list[BaseException] = []

        def create() -> None:
            try:
                VerdictStore(url).ensure_schema()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        again = VerdictStore(url)
        again.ensure_schema()
        assert again.schema_is_current()
        with again.engine.connect() as conn:
            indexes = set(conn.execute(sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'ocr_requests'")).scalars())
        assert {"idx_ocr_requests_status", "idx_ocr_requests_iin", "ocr_requests_request_id_key"} <= indexes
        again.engine.dispose()


def test_schema_upgrades_the_seed_table_in_place():
    with services.temporary_postgres_database(prefix="ocr_store_seed") as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(SEED_DDL))
            conn.execute(sa.text("INSERT INTO ocr_requests (request_id, s3_path, iin, status) "
                                 "VALUES (1, 'a.pdf', '960125400011', 'completed')"))
        engine.dispose()
        store = VerdictStore(url)
        assert not store.schema_is_current()
        store.ensure_schema()
        assert store.schema_is_current()
        row = store.get(1)
        assert row["status"] == "completed" and row["evidence"] is None and row["updated_at"] is not None
        store.save_verdict(1, _verdict(), "run-1")
        assert store.get(1)["document_type"] == "maternity_leave_order"
        store.engine.dispose()


def test_the_seed_tables_short_varchar_columns_become_text(pg_database_url):
    with services.temporary_postgres_database(prefix="ocr_store_varchar") as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(SEED_DDL))
        engine.dispose()
        store = VerdictStore(url)
        store.ensure_schema()
        assert store.schema_is_current()
        long_name, long_key = "Жармағанбетова" * 22, "2024/12/" + "я" * 500 + ".pdf"  # 308 and 512 characters
        event = _event(1, last_name=long_name[:200], first_name=long_name[:200], second_name=long_name[:200],
                       s3_path=long_key)
        assert store.record_received(event)
        row = store.get(1)
        assert (row["last_name"], row["s3_path"]) == (long_name[:200], long_key)
        with store.engine.begin() as conn:  # a 300-character name (longer than any column the seed had)
            conn.execute(sa.text("UPDATE ocr_requests SET first_name = :name WHERE request_id = 1"),
                         {"name": long_name[:300]})
            types = dict(conn.execute(sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'ocr_requests'")).all())
        assert {types[c] for c in ("s3_path", "first_name", "last_name", "second_name")} == {"text"}
        store.engine.dispose()


def test_database_errors_do_not_carry_the_statement_parameters(store):
    iin = make_iin()
    event = _event(new_request_id(), iin=iin + "0", last_name="Жармағанбетова")  # 13 digits: too long
    with pytest.raises(sa.exc.DataError) as refused:
        store.record_received(event)
    assert iin not in str(refused.value) and "Жармағанбетова" not in str(refused.value)


def test_received_row_and_duplicate_does_not_reset_a_completed_row(store):
    request_id = new_request_id()
    event = _event(request_id, extra={"channel": "mobile", "nested": {"a": [1, 2]}})
    assert store.record_received(event, partition=2, offset=41)
    row = store.get(request_id)
    assert row["status"] == "received"
    assert (row["kafka_partition"], row["kafka_offset"]) == (2, 41)
    assert row["extra"] == {"channel": "mobile", "nested": {"a": [1, 2]}}
    assert row["retry_count"] == 0 and row["run_id"] is None

    store.start_attempt(request_id, "run-a")
    store.save_verdict(request_id, _verdict(), "run-a")
    assert not store.record_received(_event(request_id, s3_path="other.pdf"), partition=2, offset=99)
    row = store.get(request_id)
    assert row["status"] == "completed" and row["verdict"] is True
    assert row["s3_path"] == event.s3_path and row["kafka_offset"] == 41


def test_attempts_count_retries_only_for_a_different_run(store):
    request_id = new_request_id()
    store.record_received(_event(request_id))
    assert store.start_attempt(request_id, "run-a", "downloading") == 0
    first_start = store.get(request_id)["started_at"]
    assert store.start_attempt(request_id, "run-a", "processing") == 0
    assert store.get(request_id)["started_at"] == first_start
    store.mark_failed(request_id, "S3_OBJECT_NOT_FOUND: missing",
                      errors=[{"code": "S3_OBJECT_NOT_FOUND", "message": "missing"}], run_id="run-a")
    failed = store.get(request_id)
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == "S3_OBJECT_NOT_FOUND"
    assert failed["completed_at"] is not None

    assert store.start_attempt(request_id, "run-b", "processing") == 1
    row = store.get(request_id)
    assert row["status"] == "processing" and row["run_id"] == "run-b"
    assert row["errors"] is None and row["error_message"] is None and row["completed_at"] is None
    store.save_verdict(request_id, _verdict(False), "run-b")
    row = store.get(request_id)
    assert row["status"] == "completed" and row["verdict"] is False and row["retry_count"] == 1
    assert row["errors"] == [{"code": "NAME_NOT_FOUND", "message": "no name"}]
    assert store.start_attempt(new_request_id(), "run-x") is None


def test_verdict_is_stored_with_its_evidence_and_loads_back(store):
    request_id = new_request_id()
    store.record_received(_event(request_id))
    store.start_attempt(request_id, "run-v")
    verdict = _verdict()
    store.save_verdict(request_id, verdict, "run-v")
    row = store.get(request_id)
    assert row["confidence"] == pytest.approx(0.93) and row["review_required"] is False
    assert row["pages"] == 1 and row["processing_time_seconds"] == pytest.approx(1.23)
    assert row["evidence"]["checks"]["name"]["snippet"] == "Ивановой Марии Петровне"
    assert row["evidence"]["engine"] == {"tesseract": "5.3.0"}
    assert row["evidence"]["timings"] == {"ocr": 0.8}
    loaded = store.load_verdict(request_id)
    assert loaded.verdict is True and loaded.checks["name"].detail == {"form": "dat"}
    assert loaded.document_type == verdict.document_type and loaded.engine == verdict.engine
    assert store.request_id_for_run("run-v") == request_id


def test_review_reasons_round_trip_and_are_added_to_an_existing_table(store):
    request_id = new_request_id()
    store.record_received(_event(request_id))
    store.start_attempt(request_id, "run-r")
    verdict = _verdict()
    verdict.review_required = True
    verdict.review_reasons = ["initials_only", "iin_unattributed"]
    store.save_verdict(request_id, verdict, "run-r")
    assert store.get(request_id)["review_reasons"] == ["initials_only", "iin_unattributed"]
    assert store.load_verdict(request_id).review_reasons == ["initials_only", "iin_unattributed"]
    store.start_attempt(request_id, "run-r2")
    store.save_verdict(request_id, _verdict(), "run-r2")  # a later verdict without reasons replaces them
    assert store.get(request_id)["review_reasons"] == []

    with services.temporary_postgres_database(prefix="ocr_store_reasons") as url:
        old = VerdictStore(url)
        old.ensure_schema()
        with old.engine.begin() as conn:  # a table created before the column existed
            conn.execute(sa.text("ALTER TABLE ocr_requests DROP COLUMN review_reasons"))
        old.engine.dispose()
        upgraded = VerdictStore(url)
        assert not upgraded.schema_is_current()
        upgraded.ensure_schema()
        upgraded.save_verdict(1, verdict, "run-1")
        assert upgraded.get(1)["review_reasons"] == ["initials_only", "iin_unattributed"]
        upgraded.engine.dispose()


def test_invalid_events_are_recorded_once_with_a_placeholder_row(store):
    topic = f"topic-{new_request_id()}"
    request_id = new_request_id()
    raw = b'{"request_id": %d, "iin": "123"}' % request_id
    assert store.record_invalid(topic=topic, partition=0, offset=7, reason="iin: bad checksum",
                                request_id=request_id, raw=raw)
    assert not store.record_invalid(topic=topic, partition=0, offset=7, reason="again",
                                    request_id=request_id, raw=raw)
    assert store.record_invalid(topic=topic, partition=0, offset=8, reason="not JSON", raw=b"\xff\x00garbage")
    rows = store.invalid_events(topic)
    assert [(r["kafka_offset"], r["reason"]) for r in rows] == [(7, "iin: bad checksum"), (8, "not JSON")]
    assert rows[0]["request_id"] == request_id and rows[0]["raw_excerpt"] == raw.decode()
    assert rows[1]["raw_excerpt"] == "\\xff\\x00garbage" and rows[1]["raw_size"] == 9
    placeholder = store.get(request_id)
    assert placeholder["status"] == "invalid" and placeholder["error_message"] == "iin: bad checksum"
    assert store.load_event(request_id) is None

    # a later valid event with the same request_id takes the placeholder over
    assert store.record_received(_event(request_id), partition=0, offset=9)
    row = store.get(request_id)
    assert row["status"] == "received" and row["error_message"] is None and row["kafka_offset"] == 9


def test_raw_excerpt_is_capped(store):
    topic = f"topic-{new_request_id()}"
    raw = ("я" * 10_000).encode()
    store.record_invalid(topic=topic, partition=1, offset=0, reason="too large", raw=raw)
    row = store.invalid_events(topic)[0]
    assert row["raw_size"] == 20_000
    assert len(row["raw_excerpt"].encode("utf-8", "backslashreplace")) <= RAW_EXCERPT_BYTES * 4
    assert row["raw_excerpt"].startswith("я" * 1000)


def test_names_with_quotes_and_unicode_are_stored_verbatim(store):
    request_id = new_request_id()
    event = _event(
        request_id,
        s3_path="Приказ о выходе в декретный отпуск - Жармағанбетова (копия) 'final'.pdf",
        last_name="Жармағанбетова-О'Коннор",
        first_name="Robert'); DROP TABLE ocr_requests;--",
        second_name='Сәкенқызы "Ұлы" \\ %s %(x)s',
        extra={"note": "ңөүһі ё ‘quotes’ \u2028"},
    )
    store.record_received(event)
    loaded = store.load_event(request_id)
    assert loaded.s3_path == event.s3_path
    assert (loaded.last_name, loaded.first_name, loaded.second_name) == (
        event.last_name, event.first_name, event.second_name)
    assert loaded.extra == event.extra
    conn = psycopg2.connect(store.engine.url.render_as_string(hide_password=False).replace("+psycopg2", ""))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ocr_requests")
            assert cur.fetchone()[0] >= 1  # the table is still there
    finally:
        conn.close()


def test_mark_run_failed_leaves_rows_other_runs_finished(store):
    request_id = new_request_id()
    store.record_received(_event(request_id))
    store.start_attempt(request_id, "run-1", "processing")
    assert store.mark_run_failed(request_id, "run-1", "worker died")
    assert store.get(request_id)["status"] == "failed"
    store.start_attempt(request_id, "run-2")
    store.save_verdict(request_id, _verdict(), "run-2")
    assert not store.mark_run_failed(request_id, "run-1", "late failure of the old run")
    assert not store.mark_run_failed(request_id, "run-2", "completed rows stay completed")
    assert store.get(request_id)["status"] == "completed"


# -------------------------------------------------------------------------- one owner per attempt

def test_a_stale_attempt_cannot_overwrite_the_row_its_successor_owns(store, caplog):
    """run-old's worker was lost (the row marked failed), run-new took the request over and completed
    it; then run-old comes back: its verdict and its failure are refused and logged, the row keeps
    run-new's verdict. A step retry of the owning run keeps ownership."""
    request_id = new_request_id()
    store.record_received(_event(request_id))
    store.start_attempt(request_id, "run-old", "processing")
    assert store.mark_run_failed(request_id, "run-old", "run worker lost")
    assert store.start_attempt(request_id, "run-new", "downloading") == 1
    assert store.start_attempt(request_id, "run-new", "processing") == 1  # a later step / step retry: same owner
    store.save_verdict(request_id, _verdict(False), "run-new")

    with pytest.raises(AttemptRefused) as refused:
        store.save_verdict(request_id, _verdict(True), "run-old")
    assert refused.value.owner == "run-new" and refused.value.status == "completed"
    assert not store.mark_failed(request_id, "late failure of the old worker", run_id="run-old")
    assert not store.mark_failed(request_id, "a writer outside any run")  # the row has an owner
    store.save_document_etag(request_id, '"stale-etag"', run_id="run-old")
    row = store.get(request_id)
    assert row["status"] == "completed" and row["verdict"] is False and row["run_id"] == "run-new"
    assert row["error_message"] is None and row["s3_etag"] != '"stale-etag"'
    assert "refused: the row belongs to run run-new" in caplog.text


def test_an_attempt_in_progress_keeps_the_row_except_from_its_own_retry(store):
    request_id = new_request_id()
    store.record_received(_event(request_id))
    store.start_attempt(request_id, "run-live", "processing")
    with pytest.raises(AttemptRefused):
        store.start_attempt(request_id, "run-other")  # e.g. a backfill, a second hand-launched run
    with pytest.raises(AttemptRefused):
        store.save_verdict(request_id, _verdict(), "run-other")
    assert store.get(request_id)["run_id"] == "run-live"
    # run_retries' retry of a run whose worker died takes over from its parent
    assert store.start_attempt(request_id, "run-retry", parent_run_id="run-live") == 1
    assert store.get(request_id)["run_id"] == "run-retry"
    with pytest.raises(AttemptRefused):
        store.start_attempt(request_id, "run-live", "processing")  # the dead parent cannot take it back
    store.save_verdict(request_id, _verdict(), "run-retry")
    assert store.get(request_id)["status"] == "completed"


def test_concurrent_attempts_on_one_row_have_exactly_one_owner(store):
    request_id = new_request_id()
    store.record_received(_event(request_id))
    barrier = threading.Barrier(8)
    owners: list[str] = []

    def attempt(number: int) -> None:
        barrier.wait()
        try:
            store.start_attempt(request_id, f"run-{number}")
            owners.append(f"run-{number}")
        except AttemptRefused:
            pass

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(owners) == 1 and store.get(request_id)["run_id"] == owners[0]


def test_the_submission_is_claimed_once_between_the_api_and_the_sensor(store):
    api_first, sensor_first = new_request_id(), new_request_id()
    assert store.record_received(_event(api_first), submitted_by=SUBMITTED_BY_API)
    assert store.claim_submission(api_first, SUBMITTED_BY_SENSOR) == SUBMITTED_BY_API
    assert store.record_received(_event(sensor_first), submitted_by=SUBMITTED_BY_SENSOR)
    assert store.claim_submission(sensor_first, SUBMITTED_BY_SENSOR) is None  # a replayed tick
    assert not store.claim_failed_submission(sensor_first, submitted_by=SUBMITTED_BY_API)

    # an API submission that failed may be claimed again by either side, once
    store.mark_failed(api_first, f"{SUBMISSION_FAILED_PREFIX}: webserver down")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def sensor() -> None:
        barrier.wait()
        outcomes["sensor"] = store.claim_submission(api_first, SUBMITTED_BY_SENSOR) is None

    def api() -> None:
        barrier.wait()
        outcomes["api"] = store.claim_failed_submission(api_first, submitted_by=SUBMITTED_BY_API)

    threads = [threading.Thread(target=sensor), threading.Thread(target=api)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == [False, True], outcomes
    row = store.get(api_first)
    assert row["status"] == "received" and row["error_message"] is None
    assert row["submitted_by"] == next(who for who, won in outcomes.items() if won)
