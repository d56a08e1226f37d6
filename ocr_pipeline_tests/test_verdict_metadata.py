"""What an analyst reads on a verdict's materialization (verify_request in process; moto_server, Postgres)."""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from ocr_pipeline.assets import request_verdict
from ocr_pipeline.assets.request_verdict import verdict_metadata
from ocr_pipeline.engine.iin import mask_iin
from ocr_pipeline.engine.models import CheckResult, Verdict
from ocr_pipeline.jobs import verify_request_job
from ocr_pipeline.resources import DocumentBucketResource, PostgresVerdictIOManager, VerdictStoreResource
from ocr_pipeline.sensors.kafka_requests import run_request_for
from ocr_pipeline.events import RequestEvent
from ocr_pipeline_tests import docgen
from ocr_pipeline_tests.dagster_fixtures import new_request_id


def test_metadata_of_a_verdict_without_checks():
    metadata = verdict_metadata(5, "840217300615", Verdict(verdict=False, errors=[{"code": "CORRUPT_FILE", "message": "x"}]))
    assert metadata["iin"] == mask_iin("840217300615") and metadata["errors"] == "CORRUPT_FILE"
    assert "name_form" not in metadata
    named = Verdict(verdict=True, checks={"name": CheckResult(True, 0.9, 1, "Смирнову А.Н.", {"form": "Смирнову А.Н."})})
    assert verdict_metadata(5, "840217300615", named)["name_page"] == 1


def test_the_materialization_carries_the_evidence(s3_server, s3_bucket, pg_database_url):
    person = docgen.PEOPLE["smirnov"]
    page = docgen.render_document("dismissal_order", person, seed=4)
    key = "2024/12/Приказ - Смирнов.pdf"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=docgen.to_pdf([page], text_layer=True))
    store = VerdictStoreResource(database_url=pg_database_url)
    defs = dg.Definitions(
        assets=[request_verdict], jobs=[verify_request_job],
        resources={"documents": DocumentBucketResource(s3=S3Resource(endpoint_url=s3_server.endpoint_url),
                                                       bucket=s3_bucket),
                   "verdict_store": store, "verdict_io_manager": PostgresVerdictIOManager(verdict_store=store)},
    )
    applicant = person.applicant()
    event = RequestEvent(request_id=new_request_id(), s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                         first_name=applicant.first_name, second_name=applicant.second_name)
    run = run_request_for(event)
    result = defs.resolve_job_def("verify_request").execute_in_process(run_config=run.run_config, tags=run.tags)
    assert result.success
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("request_verdict")[0].metadata.items()}
    assert metadata["request_id"] == event.request_id and metadata["verdict"] is True
    assert metadata["iin"] == mask_iin(applicant.iin) and applicant.iin not in str(metadata)
    assert metadata["name_matched"] is True and metadata["name_page"] == 1
    assert metadata["name_form"] and metadata["name_snippet"].startswith(applicant.last_name[:4])
    assert metadata["iin_status"] == "found" and metadata["iin_snippet"] == f"ИИН {mask_iin(applicant.iin)}"
    assert metadata["document_type"] == "dismissal_order" and metadata["processing_time_seconds"] > 0
    assert store.get_store().get(event.request_id)["s3_etag"]  # recorded on download, for backfill idempotence
