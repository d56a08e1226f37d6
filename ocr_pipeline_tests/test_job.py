"""The verify_request job in process (no daemon), against moto_server, Postgres and real Tesseract."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from ocr_pipeline.defs.assets import request_verdict
from ocr_pipeline.defs.jobs import verify_request_job
from ocr_pipeline.defs.resources import DocumentBucketResource, PostgresVerdictIOManager, VerdictStoreResource
from ocr_pipeline.engine.models import DocumentError, ErrorCode
from ocr_pipeline_devtools import docgen
from ocr_pipeline_devtools.dagster_fixtures import new_request_id
from ocr_pipeline_devtools.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration


def _job(endpoint_url: str, bucket: str, database_url: str, attempts: int = 3) -> dg.JobDefinition:
    store = VerdictStoreResource(database_url=database_url)
    documents = DocumentBucketResource(
        s3=S3Resource(endpoint_url=endpoint_url, region_name="us-east-1"), bucket=bucket,
        download_attempts=attempts, connect_timeout=2, read_timeout=5, outage_wait_seconds=0,  # fail at once
    )
    defs = dg.Definitions(
        assets=[request_verdict], jobs=[verify_request_job],
        resources={"documents": documents, "verdict_store": store,
                   "verdict_io_manager": PostgresVerdictIOManager(verdict_store=store)},
    )
    return defs.resolve_job_def("verify_request")


def _run(job: dg.JobDefinition, request_id: int, key: str, person_key: str = "smirnov", tagged: bool = True,
         instance: dg.DagsterInstance | None = None):
    applicant = docgen.PEOPLE[person_key].applicant()
    config = {"request_id": request_id, "s3_path": key, "iin": applicant.iin, "last_name": applicant.last_name,
              "first_name": applicant.first_name, "second_name": applicant.second_name}
    return job.execute_in_process(run_config={"ops": {"request_verdict": {"config": config}}},
                                  tags={"request_id": str(request_id)} if tagged else None,
                                  instance=instance, raise_on_error=False)


@pytest.fixture
def text_pdf() -> bytes:
    page = docgen.render_document("dismissal_order", docgen.PEOPLE["smirnov"], seed=4)
    return docgen.to_pdf([page], text_layer=True)


def test_a_document_ends_in_a_completed_row_with_evidence(s3_server, s3_bucket, pg_database_url, text_pdf):
    key = "2024/12/Приказ об увольнении - Смирнов А.Н. (копия).pdf"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=text_pdf)
    request_id = new_request_id()
    result = _run(_job(s3_server.endpoint_url, s3_bucket, pg_database_url), request_id, key)
    assert result.success
    row = VerdictStoreResource(database_url=pg_database_url).get_store().get(request_id)
    assert row["status"] == "completed" and row["verdict"] is True, row
    assert row["run_id"] == result.run_id and row["retry_count"] == 0
    assert row["evidence"]["timings"]["download"] > 0 and row["evidence"]["engine"]
    assert row["processing_time_seconds"] is not None and row["pages"] == 1
    materialization = result.asset_materializations_for_node("request_verdict")[0]
    assert materialization.metadata["request_id"].value == request_id
    assert materialization.metadata["verdict"].value is True


def test_a_corrupt_document_is_a_completed_false_verdict(s3_server, s3_bucket, pg_database_url):
    s3_server.client().put_object(Bucket=s3_bucket, Key="broken.pdf", Body=b"%PDF-1.4\nnot really")
    request_id = new_request_id()
    with dg.DagsterInstance.ephemeral() as instance:  # launched by hand: no tags
        result = _run(_job(s3_server.endpoint_url, s3_bucket, pg_database_url), request_id, "broken.pdf",
                      tagged=False, instance=instance)
        assert result.success
        tags = instance.get_run_by_id(result.run_id).tags
    iin = docgen.PEOPLE["smirnov"].iin
    assert tags["request_id"] == str(request_id) and tags["iin"] == iin[:4] + "******" + iin[-2:]
    row = VerdictStoreResource(database_url=pg_database_url).get_store().get(request_id)
    assert row["status"] == "completed" and row["verdict"] is False
    assert [e["code"] for e in row["errors"]] == ["CORRUPT_FILE"]


def test_a_missing_object_fails_the_run_and_the_row(s3_server, s3_bucket, pg_database_url):
    request_id = new_request_id()
    result = _run(_job(s3_server.endpoint_url, s3_bucket, pg_database_url), request_id, "нет/такого файла.png")
    assert not result.success
    failure = result.failure_data_for_node("request_verdict")
    assert failure is not None and "S3_OBJECT_NOT_FOUND" in failure.error.message
    row = VerdictStoreResource(database_url=pg_database_url).get_store().get(request_id)
    assert row["status"] == "failed" and [e["code"] for e in row["errors"]] == ["S3_OBJECT_NOT_FOUND"]
    assert row["completed_at"] is not None


def test_transient_s3_faults_are_retried(s3_server, s3_bucket, pg_database_url, text_pdf):
    s3_server.client().put_object(Bucket=s3_bucket, Key="flaky.pdf", Body=text_pdf)
    request_id = new_request_id()
    with FaultProxy(s3_server.endpoint_url, plan={"HEAD": ["500", "reset"], "GET": ["truncate"]}) as proxy:
        result = _run(_job(proxy.endpoint_url, s3_bucket, pg_database_url, attempts=4), request_id, "flaky.pdf")
    assert result.success
    row = VerdictStoreResource(database_url=pg_database_url).get_store().get(request_id)
    assert row["status"] == "completed" and row["verdict"] is True


def test_exhausted_retries_fail_with_a_clear_message(s3_server, s3_bucket, pg_database_url, text_pdf):
    s3_server.client().put_object(Bucket=s3_bucket, Key="down.pdf", Body=text_pdf)
    request_id = new_request_id()
    with FaultProxy(s3_server.endpoint_url, plan={"HEAD": ["503"] * 3}) as proxy:
        result = _run(_job(proxy.endpoint_url, s3_bucket, pg_database_url, attempts=3), request_id, "down.pdf")
    assert not result.success
    row = VerdictStoreResource(database_url=pg_database_url).get_store().get(request_id)
    assert row["status"] == "failed"
    assert row["error_message"].startswith("S3 download failed: download of s3://")
    assert "after 3 attempts" in row["error_message"] and "503" in row["error_message"]


def test_the_resource_downloads_unicode_keys(s3_server, s3_bucket):
    documents = DocumentBucketResource(s3=S3Resource(endpoint_url=s3_server.endpoint_url), bucket=s3_bucket)
    key = "2024/12/Анықтама - Жармағанбетова Әлия (1).jpg"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=b"\xff\xd8\xff data")
    assert documents.download(key, max_bytes=100).data == b"\xff\xd8\xff data"
    with pytest.raises(DocumentError) as missing:
        documents.download(key + ".missing", max_bytes=100)
    assert missing.value.code is ErrorCode.S3_OBJECT_NOT_FOUND
    with pytest.raises(DocumentError) as large:
        documents.download(key, max_bytes=4)
    assert large.value.code is ErrorCode.FILE_TOO_LARGE


def test_a_run_configured_with_only_the_request_id_reads_the_recorded_event(
        s3_server, s3_bucket, pg_database_url, text_pdf):
    from ocr_pipeline.defs.sensors.kafka_requests import run_request_for
    from ocr_pipeline.flows.events import RequestEvent

    s3_server.client().put_object(Bucket=s3_bucket, Key="recorded.pdf", Body=text_pdf)
    applicant = docgen.PEOPLE["smirnov"].applicant()
    event = RequestEvent(new_request_id(), "recorded.pdf", applicant.iin, applicant.last_name,
                         applicant.first_name, applicant.second_name)
    store = VerdictStoreResource(database_url=pg_database_url).get_store()
    store.ensure_schema()
    store.record_received(event)
    run = run_request_for(event)
    assert applicant.iin not in str(run.run_config)
    result = _job(s3_server.endpoint_url, s3_bucket, pg_database_url).execute_in_process(
        run_config=run.run_config, tags=run.tags)
    assert result.success
    row = store.get(event.request_id)
    assert row["status"] == "completed" and row["verdict"] is True


def test_a_run_for_an_unrecorded_request_id_alone_fails_saying_what_to_give(s3_server, s3_bucket, pg_database_url):
    request_id = new_request_id()
    VerdictStoreResource(database_url=pg_database_url).get_store().ensure_schema()
    result = _job(s3_server.endpoint_url, s3_bucket, pg_database_url).execute_in_process(
        run_config={"ops": {"request_verdict": {"config": {"request_id": request_id}}}}, raise_on_error=False)
    assert not result.success
    message = result.failure_data_for_node("request_verdict").error.message
    assert f"request {request_id} is not recorded" in message and "iin" in message


def test_re_executing_the_decision_alone_repeats_the_stages_before_it(s3_server, s3_bucket, pg_database_url,
                                                                     text_pdf):
    """What *Re-execute from failure* does when the last stage failed: the download and the reading lived
    in the first run's memory, so the new run repeats them from the request's row, then decides and
    saves the verdict as a new attempt under its own run id."""
    s3_server.client().put_object(Bucket=s3_bucket, Key="again.pdf", Body=text_pdf)
    request_id = new_request_id()
    applicant = docgen.PEOPLE["smirnov"].applicant()
    config = {"request_id": request_id, "s3_path": "again.pdf", "iin": applicant.iin,
              "last_name": applicant.last_name, "first_name": applicant.first_name,
              "second_name": applicant.second_name}
    job = dg.build_reconstructable_job(__name__, "_job", reconstructable_args=(
        s3_server.endpoint_url, s3_bucket, pg_database_url))
    with dg.DagsterInstance.local_temp() as instance:
        first = dg.execute_job(job, instance, run_config={"ops": {"request_verdict": {"config": config}}},
                               tags={"request_id": str(request_id)})
        assert first.success
        second = dg.execute_job(job, instance, reexecution_options=dg.ReexecutionOptions(
            parent_run_id=first.run_id, step_selection=["request_verdict.decide_verdict"]))
        assert second.success
        executed = {event.step_key for event in second.get_step_success_events()}
        logs = [entry.user_message for entry in instance.all_logs(second.run_id)]
    assert executed == {"request_verdict.decide_verdict"}
    assert sum("repeating that stage" in message for message in logs) == 2, logs
    row = VerdictStoreResource(database_url=pg_database_url).get_store().get(request_id)
    assert row["status"] == "completed" and row["verdict"] is True
    assert row["run_id"] == second.run_id and row["retry_count"] == 1
