"""The Postgres IO manager with built contexts, against a real Postgres."""

from __future__ import annotations

import dagster as dg
import pytest

from ocr_pipeline.defs.resources import PostgresVerdictIOManager, VerdictStoreResource
from ocr_pipeline.engine.models import CheckResult, Verdict
from ocr_pipeline.flows.events import RequestEvent
from ocr_pipeline_devtools.dagster_fixtures import make_iin, new_request_id

pytestmark = pytest.mark.integration


@pytest.fixture
def io_manager(pg_database_url) -> PostgresVerdictIOManager:
    return PostgresVerdictIOManager(verdict_store=VerdictStoreResource(database_url=pg_database_url))


def _received(io_manager: PostgresVerdictIOManager, run_id: str) -> int:
    request_id = new_request_id()
    store = io_manager.verdict_store.get_store()
    store.record_received(RequestEvent(request_id, "a/б.png", make_iin(), "Ахметов", "Ерлан", "Серікұлы"))
    store.start_attempt(request_id, run_id, "processing")
    return request_id


def test_handle_output_upserts_the_row_and_load_input_reads_it_back(io_manager):
    run_id = "3f5e0c1a-0000-4000-8000-000000000001"
    request_id = _received(io_manager, run_id)
    verdict = Verdict(
        verdict=True, document_type="employment_certificate", confidence=0.88,
        checks={"name": CheckResult(matched=True, score=0.95, page=1, snippet="Ахметов Ерлан")},
        pages=2, processing_time_seconds=3.21, engine={"tesseract": "5.3"}, timings={"ocr": 2.5},
    )
    output_context = dg.build_output_context(
        run_id=run_id, name="result", asset_key="request_verdict",
        output_metadata={"request_id": dg.MetadataValue.int(request_id)},
    )
    io_manager.handle_output(output_context, verdict)

    row = io_manager.verdict_store.get_store().get(request_id)
    assert row["status"] == "completed" and row["verdict"] is True and row["run_id"] == run_id
    assert row["document_type"] == "employment_certificate" and row["pages"] == 2
    assert row["evidence"]["checks"]["name"]["snippet"] == "Ахметов Ерлан"
    assert row["completed_at"] is not None and row["retry_count"] == 0

    loaded = io_manager.load_input(dg.build_input_context(upstream_output=dg.build_output_context(run_id=run_id)))
    assert isinstance(loaded, Verdict)
    assert loaded.to_dict() == {**verdict.to_dict(), "processing_time_seconds": 3.21}


def test_handle_output_accepts_a_plain_request_id_and_a_failed_verdict(io_manager):
    run_id = "3f5e0c1a-0000-4000-8000-000000000002"
    request_id = _received(io_manager, run_id)
    verdict = Verdict(verdict=False, errors=[{"code": "CORRUPT_FILE", "message": "not a PDF"}])
    io_manager.handle_output(
        dg.build_output_context(run_id=run_id, output_metadata={"request_id": request_id}), verdict)
    row = io_manager.verdict_store.get_store().get(request_id)
    assert row["status"] == "completed" and row["verdict"] is False
    assert row["errors"] == [{"code": "CORRUPT_FILE", "message": "not a PDF"}]


def test_output_without_request_id_or_verdict_is_refused(io_manager):
    with pytest.raises(dg.DagsterInvariantViolationError):
        io_manager.handle_output(dg.build_output_context(run_id="r"), Verdict(verdict=True))
    with pytest.raises(TypeError):
        io_manager.handle_output(
            dg.build_output_context(run_id="r", output_metadata={"request_id": 1}), {"verdict": True})


def test_load_input_of_an_unknown_run_is_refused(io_manager):
    with pytest.raises(dg.DagsterInvariantViolationError):
        io_manager.load_input(dg.build_input_context(upstream_output=dg.build_output_context(run_id="nope")))


def test_a_stale_runs_verdict_is_refused_and_fails_its_step(io_manager):
    """A run retried after its worker was lost comes back and stores its output: the retry owns the row
    now, so the output is refused (the step fails without retries) and the row keeps the retry's state."""
    stale, retry = "3f5e0c1a-0000-4000-8000-000000000003", "3f5e0c1a-0000-4000-8000-000000000004"
    request_id = _received(io_manager, stale)
    store = io_manager.verdict_store.get_store()
    store.start_attempt(request_id, retry, "processing", parent_run_id=stale)
    with pytest.raises(dg.Failure, match=f"the row belongs to run {retry}"):
        io_manager.handle_output(
            dg.build_output_context(run_id=stale, output_metadata={"request_id": request_id}), Verdict(verdict=True))
    row = store.get(request_id)
    assert row["status"] == "processing" and row["run_id"] == retry and row["verdict"] is None
