"""The verdict store against a real Postgres."""

from __future__ import annotations

import threading

import psycopg2
import pytest
import sqlalchemy as sa

from ocr_pipeline.engine.models import CheckResult, Verdict
from ocr_pipeline.events import RequestEvent
from ocr_pipeline.store import RAW_EXCERPT_BYTES, VerdictStore
from ocr_pipeline_tests import services
from ocr_pipeline_tests.dagster_fixtures import make_iin, new_request_id

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
