"""The re-check job: analysts re-verify requests from their stored events (moto_server, Postgres)."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from ocr_pipeline.defs.analyst_jobs import recheck_requests_job
from ocr_pipeline.defs.assets import request_verdict
from ocr_pipeline.defs.jobs import verify_request_job
from ocr_pipeline.defs.resources import DocumentBucketResource, PostgresVerdictIOManager, VerdictStoreResource
from ocr_pipeline.defs.sensors.kafka_requests import run_request_for
from ocr_pipeline.flows.events import RequestEvent
from ocr_pipeline_devtools import docgen
from ocr_pipeline_devtools.dagster_fixtures import new_request_id

pytestmark = pytest.mark.integration


def _event(request_id: int, key: str, person_key: str) -> RequestEvent:
    applicant = docgen.PEOPLE[person_key].applicant()
    return RequestEvent(request_id=request_id, s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                        first_name=applicant.first_name, second_name=applicant.second_name)


@pytest.fixture
def resources(s3_server, s3_bucket, pg_database_url) -> dict:
    store = VerdictStoreResource(database_url=pg_database_url)
    return {
        "documents": DocumentBucketResource(
            s3=S3Resource(endpoint_url=s3_server.endpoint_url, region_name="us-east-1"), bucket=s3_bucket,
            download_attempts=2,
        ),
        "verdict_store": store,
        "verdict_io_manager": PostgresVerdictIOManager(verdict_store=store),
    }


def test_recheck_reverifies_failed_and_completed_requests(s3_server, s3_bucket, resources):
    client = s3_server.client()
    store = resources["verdict_store"].get_store()
    page = docgen.render_document("dismissal_order", docgen.PEOPLE["smirnov"], seed=4)
    pdf = docgen.to_pdf([page], text_layer=True)
    failed_id, completed_id = new_request_id(), new_request_id()
    failed_key, completed_key = "2024/12/пока нет.pdf", "2024/12/Приказ Смирнов.pdf"
    client.put_object(Bucket=s3_bucket, Key=completed_key, Body=pdf)

    job = dg.Definitions(assets=[request_verdict], jobs=[verify_request_job, recheck_requests_job],
                         resources=resources)
    verify = job.resolve_job_def("verify_request")
    with dg.DagsterInstance.ephemeral() as instance:
        original = {}
        for request_id, key in ((failed_id, failed_key), (completed_id, completed_key)):
            event = _event(request_id, key, "smirnov")
            store.record_received(event)
            run = run_request_for(event)
            original[request_id] = verify.execute_in_process(
                run_config=run.run_config, tags=run.tags, instance=instance, raise_on_error=False)
        assert not original[failed_id].success and original[completed_id].success
        assert store.get(failed_id)["status"] == "failed"

        client.put_object(Bucket=s3_bucket, Key=failed_key, Body=pdf)  # the missing document arrives
        recheck = job.resolve_job_def("recheck_requests")
        result = recheck.execute_in_process(
            run_config={"ops": {"recheck": {"config": {"request_ids": [failed_id, completed_id]}}}},
            instance=instance,
        )
        assert result.success
        for request_id in (failed_id, completed_id):
            row = store.get(request_id)
            assert row["status"] == "completed" and row["verdict"] is True, row
            assert row["run_id"] == result.run_id and row["retry_count"] == 1
            assert row["run_id"] != original[request_id].run_id
        metadata = result.output_for_node("recheck")
        assert metadata == 2

        missing = recheck.execute_in_process(
            run_config={"ops": {"recheck": {"config": {"request_ids": [new_request_id(), completed_id]}}}},
            instance=instance, raise_on_error=False,
        )
        assert not missing.success
        failure = missing.failure_data_for_node("recheck")
        assert "1 request(s) without a stored event" in failure.error.message
        assert store.get(completed_id)["retry_count"] == 2  # the known one was still re-checked
