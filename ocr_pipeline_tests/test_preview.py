"""The evidence preview: boxes around the matched name and IIN, checked against where docgen typeset
them; stored in S3 by a verify_request run (moto_server, Postgres, real Tesseract)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr_pipeline.flows.preview import PREVIEW_LONG_SIDE, preview_key
from ocr_pipeline_devtools import docgen
from ocr_pipeline_devtools.dagster_fixtures import run_verify_request

pytestmark = pytest.mark.integration


def test_a_run_stores_a_preview_boxing_the_name_and_the_iin(s3_server, s3_bucket, pg_database_url):
    person = docgen.PEOPLE["kim"]
    page = docgen.render_document("dismissal_order", person, seed=3)
    runs = {text: (x, baseline) for x, baseline, text, *_ in page.info["docgen_runs"]}
    key = "2024/12/скан Ким.png"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=docgen.degrade(page, "clean", seed=1))
    applicant = person.applicant()
    event, metadata = run_verify_request(s3_server.endpoint_url, s3_bucket, pg_database_url, key, applicant)
    assert metadata["verdict"] is True

    boxes = {box["kind"]: box for box in metadata["evidence_boxes"]}
    # the clean scan keeps docgen's geometry: the boxes start at the typeset words and hold their baseline
    name_x, name_baseline = runs[applicant.last_name]
    iin_x, iin_baseline = runs[f"{applicant.iin},"]
    assert abs(boxes["name"]["left"] - name_x) <= 12 and boxes["name"]["page"] == 1
    assert boxes["name"]["top"] < name_baseline <= boxes["name"]["top"] + boxes["name"]["height"]
    assert 400 < boxes["name"]["width"] < 900  # "Ким Ольге Владимировне", not the whole line
    assert abs(boxes["iin"]["left"] - iin_x) <= 12
    assert boxes["iin"]["top"] < iin_baseline <= boxes["iin"]["top"] + boxes["iin"]["height"]

    preview = preview_key("_previews/", key, event.request_id)
    assert metadata["preview"] == f"s3://{s3_bucket}/{preview}"
    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=preview)
    assert stored["ContentType"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(stored["Body"].read(), np.uint8), cv2.IMREAD_COLOR)
    assert max(image.shape[:2]) == PREVIEW_LONG_SIDE
    scale = PREVIEW_LONG_SIDE / 3508
    # the green name frame runs along the top edge of the name box (a few pixels above it)
    y = int((boxes["name"]["top"] - 8) * scale)
    x0, x1 = int(boxes["name"]["left"] * scale), int((boxes["name"]["left"] + boxes["name"]["width"]) * scale)
    band = image[max(0, y - 4): y + 5, x0:x1].reshape(-1, 3).astype(int)
    green = (band[:, 1] > 120) & (band[:, 0] < 90) & (band[:, 2] < 90)
    assert green.sum() > (x1 - x0) * 0.5


def test_the_kept_prepared_page_gives_the_same_preview_as_preparing_it_again():
    from ocr_pipeline.engine.pipeline import read_pages
    from ocr_pipeline.engine.verify import verify_pages
    from ocr_pipeline.flows.preview import make_preview
    from ocr_pipeline.flows.verification import ENGINE_SETTINGS

    person = docgen.PEOPLE["kim"]
    data = docgen.degrade(docgen.render_document("sick_leave", person, seed=5), "photo", seed=5)
    prepared: dict = {}
    pages = read_pages(data, ENGINE_SETTINGS, {}, prepared)
    assert set(prepared) == {page.number for page in pages}
    verdict = verify_pages(pages, person.applicant(), ENGINE_SETTINGS)
    kept_boxes, kept = make_preview(data, pages, verdict, person.applicant(), ENGINE_SETTINGS, prepared)
    again_boxes, again = make_preview(data, pages, verdict, person.applicant(), ENGINE_SETTINGS)
    assert kept is not None and kept_boxes == again_boxes
    decoded = [cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE) for jpeg in (kept, again)]
    assert decoded[0].shape == decoded[1].shape
    assert np.abs(decoded[0].astype(int) - decoded[1].astype(int)).mean() < 1.0
