"""What an analyst reads on a verdict's materialization (verify_request in process; moto_server, Postgres)."""

from __future__ import annotations

import pytest

from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.defs.assets.request_verdict import verdict_metadata
from ocr_pipeline.engine.iin import mask_iin
from ocr_pipeline.engine.models import CheckResult, Verdict
from ocr_pipeline_devtools import docgen
from ocr_pipeline_devtools.dagster_fixtures import run_verify_request

pytestmark = pytest.mark.integration


def test_metadata_of_a_verdict_without_checks():
    corrupt = Verdict(verdict=False, errors=[{"code": "CORRUPT_FILE", "message": "x"}])
    metadata = verdict_metadata(5, "840217300615", corrupt)
    assert metadata["iin"] == mask_iin("840217300615") and metadata["errors"] == "CORRUPT_FILE"
    assert "name_form" not in metadata
    name_check = CheckResult(True, 0.9, 1, "Смирнову А.Н.", {"form": "Смирнову А.Н."})
    named = Verdict(verdict=True, checks={"name": name_check})
    assert verdict_metadata(5, "840217300615", named)["name_page"] == 1


def test_the_materialization_carries_the_evidence(s3_server, s3_bucket, pg_database_url):
    person = docgen.PEOPLE["smirnov"]
    page = docgen.render_document("dismissal_order", person, seed=4)
    key = "2024/12/Приказ - Смирнов.pdf"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=docgen.to_pdf([page], text_layer=True))
    applicant = person.applicant()
    event, metadata = run_verify_request(s3_server.endpoint_url, s3_bucket, pg_database_url, key, applicant)
    assert metadata["request_id"] == event.request_id and metadata["verdict"] is True
    assert metadata["iin"] == mask_iin(applicant.iin) and applicant.iin not in str(metadata)
    assert metadata["name_matched"] is True and metadata["name_page"] == 1
    assert metadata["name_form"] and metadata["name_snippet"].startswith(applicant.last_name[:1] + "***")
    for part in (applicant.last_name, applicant.first_name, applicant.second_name):  # names masked
        assert part[:4] not in str(metadata), (part, metadata)
    assert metadata["iin_status"] == "found" and metadata["iin_snippet"] == f"ИИН {mask_iin(applicant.iin)}"
    assert metadata["document_type"] == "dismissal_order" and metadata["processing_time_seconds"] > 0
    # recorded on download, for backfill idempotence
    assert VerdictStore(pg_database_url).get(event.request_id)["s3_etag"]


def test_review_reasons_reach_the_row_and_the_materialization(s3_server, s3_bucket, pg_database_url):
    person = docgen.PEOPLE["smirnov"]  # named by initials only, no IIN printed: a person must look
    page = docgen.render_document("dismissal_order", person, name_case="initials", seed=4, include_iin=False)
    key = "2024/12/Приказ без ИИН - Смирнов.pdf"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=docgen.to_pdf([page], text_layer=True))
    event, metadata = run_verify_request(s3_server.endpoint_url, s3_bucket, pg_database_url, key, person.applicant())
    assert metadata["verdict"] is True and metadata["review_required"] is True
    assert metadata["review_reasons"] == "initials_only"
    row = VerdictStore(pg_database_url).get(event.request_id)
    assert row["review_required"] is True and row["review_reasons"] == ["initials_only"]
