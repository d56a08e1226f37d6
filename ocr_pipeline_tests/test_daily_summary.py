"""The daily summary asset (pandas) over a Postgres database of its own."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.defs.assets import daily_verdict_summary, request_verdict
from ocr_pipeline.defs.resources import PostgresVerdictIOManager, VerdictStoreResource
from ocr_pipeline.engine.models import Verdict
from ocr_pipeline.flows.events import RequestEvent
from ocr_pipeline_devtools import services
from ocr_pipeline_devtools.dagster_fixtures import make_iin

pytestmark = pytest.mark.integration

IIN = make_iin("850704", "3", "0012")


@pytest.fixture
def database_url(pg_database_url):
    with services.temporary_postgres_database(prefix="ocr_summary") as url:
        yield url


def _received(store: VerdictStore, request_id: int) -> None:
    store.record_received(RequestEvent(request_id=request_id, s3_path=f"{request_id}.pdf", iin=IIN,
                                       last_name="Иванов", first_name="Иван"))


def test_the_day_is_summarised_in_the_metadata(database_url):
    resource = VerdictStoreResource(database_url=database_url)
    store = resource.get_store()
    seconds = [1.0, 2.0, 3.0, 4.0, 10.0]
    for request_id, took in enumerate(seconds, start=1):
        _received(store, request_id)
        verdict = Verdict(verdict=request_id <= 3, document_type="dismissal_order" if request_id % 2 else "other",
                          errors=[] if request_id <= 3 else [{"code": "NAME_NOT_FOUND", "message": "-"}],
                          processing_time_seconds=took)
        store.save_verdict(request_id, verdict, f"run-{request_id}")
    _received(store, 6)
    store.mark_failed(6, "gone", errors=[{"code": "S3_OBJECT_NOT_FOUND", "message": "gone"}])
    _received(store, 7)  # still received
    _received(store, 8)
    yesterday = dt.datetime.now(dt.timezone.utc).replace(hour=12, minute=0) - dt.timedelta(days=1)
    with store.engine.begin() as conn:  # the last complete day's partition; request 8 a day earlier
        conn.execute(sa.text("UPDATE ocr_requests SET received_at = :at"), {"at": yesterday})
        conn.execute(sa.text("UPDATE ocr_requests SET received_at = :at WHERE request_id = 8"),
                     {"at": yesterday - dt.timedelta(days=1)})
    day = yesterday.strftime("%Y-%m-%d")
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [request_verdict.to_source_asset(), daily_verdict_summary], partition_key=day,
            instance=instance,
            resources={"verdict_store": resource,
                       "verdict_io_manager": PostgresVerdictIOManager(verdict_store=resource)},
        )
    assert result.success
    metadata = result.asset_materializations_for_node("daily_verdict_summary")[0].metadata
    assert metadata["requests"].value == 7
    counts = {(r.data["dimension"], r.data["value"]): r.data["requests"] for r in metadata["summary"].value.records}
    assert counts[("status", "completed")] == 5 and counts[("status", "failed")] == 1
    assert counts[("status", "received")] == 1
    assert counts[("verdict", "true")] == 3 and counts[("verdict", "false")] == 2 and counts[("verdict", "none")] == 2
    assert counts[("error_code", "NAME_NOT_FOUND")] == 2 and counts[("error_code", "S3_OBJECT_NOT_FOUND")] == 1
    assert counts[("document_type", "dismissal_order")] == 3 and counts[("document_type", "other")] == 2
    assert metadata["median_processing_seconds"].value == 3.0
    assert metadata["p95_processing_seconds"].value == pytest.approx(8.8)
    store.engine.dispose()
