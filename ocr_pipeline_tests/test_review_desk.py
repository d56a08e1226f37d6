"""The review desk in a real headless Chromium (Playwright, Debian's chromium): real verdicts of the engine
in Postgres (a database of its own), their previews in moto_server, the real app under uvicorn, the
result events consumed back from Tansu."""

from __future__ import annotations

import json
from typing import Iterator

import httpx
import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition

from ocr_pipeline.adapters.kafka import KafkaSettings
from ocr_pipeline.adapters.results import publish_results
from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.api import ApiSettings, create_app
from ocr_pipeline.engine.iin import mask_iin
from ocr_pipeline_devtools import browser, docgen, services
from ocr_pipeline_devtools.review_cases import verified_request
from ocr_pipeline_tests.test_api import UvicornThread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOKEN = "review-desk-test-token"
REVIEWER = "a.seitkali"


@pytest.fixture
def store(pg_database_url) -> Iterator[VerdictStore]:
    """A database of its own: the queue and the outbox see only this test's rows."""
    with services.temporary_postgres_database(prefix="ocr_review") as url:
        store = VerdictStore(url)
        store.ensure_schema()
        yield store
        store.engine.dispose()


def _results(bootstrap_servers: str, topic: str, expected: int) -> list[dict]:
    """Every result event on the topic so far (at least ``expected``), oldest first."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=100)
    records = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        for _ in range(100):
            for batch in consumer.poll(timeout_ms=200).values():
                records += batch
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return [json.loads(record.value) for record in records]


def test_a_reviewer_decides_a_flagged_verdict_in_the_browser(kafka_broker, new_topic, s3_server, s3_bucket, store):
    assert browser.chromium_available(), "scripts/setup.sh installs chromium"
    s3 = s3_server.client()
    ivanova, kim = docgen.PEOPLE["ivanova"], docgen.PEOPLE["kim"]
    # the engine's own verdicts: a document naming the applicant by initials only, without her IIN
    flagged, preview = verified_request(store, s3, s3_bucket, 101, ivanova)
    assert flagged.review_required and flagged.review_reasons == ["initials_only"]
    assert preview is not None
    verified_request(store, s3, s3_bucket, 102, kim, name_case="initials", seed=2)
    clean, _ = verified_request(store, s3, s3_bucket, 103, kim, name_case="dat", include_iin=True, seed=3)
    assert not clean.review_required  # never queued

    results_topic = new_topic(prefix="results")
    kafka = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, topic="requests", request_timeout_ms=5000)
    assert publish_results(kafka, results_topic, store) == 3
    before = {event["request_id"]: event for event in _results(kafka_broker.bootstrap_servers, results_topic, 3)}
    assert before[101]["final_verdict"] is None and before[101]["review"] is None
    assert before[101]["review_required"] is True
    assert before[103]["final_verdict"] is before[103]["verdict"]  # no review needed: the engine's stands

    settings = ApiSettings.from_env({
        "DATABASE_URL": store.database_url, "S3_ENDPOINT_URL": s3_server.endpoint_url, "S3_BUCKET": s3_bucket,
        "API_BEARER_TOKEN": TOKEN, "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{services.free_port()}",
    })
    with UvicornThread(create_app(settings)) as server, browser.chromium() as context:
        page = context.new_page()
        page.goto(f"{server.url}/review")
        page.fill("#token", TOKEN)
        page.fill("#reviewer", REVIEWER)
        page.click("#login-form button[type=submit]")

        # the queue: flagged, undecided requests only, oldest verdict first
        page.wait_for_selector("#queue-rows tr")
        assert page.locator("#queue-rows tr").evaluate_all("rows => rows.map(r => r.dataset.requestId)") == [
            "101", "102"]
        assert "initials_only" in page.locator("#queue-rows tr").first.inner_text()
        assert page.inner_text("#queue-total") == "(2)"

        # the case: the applicant's name, the IIN masked, the reasons, the boxed preview
        page.click("#queue-rows a[href='#case=101']")
        page.wait_for_selector("#case:not([hidden])")
        assert page.inner_text("#case-name") == " ".join(
            p for p in (ivanova.applicant().last_name, ivanova.applicant().first_name,
                        ivanova.applicant().second_name) if p)
        assert page.inner_text("#case-iin") == mask_iin(ivanova.applicant().iin)
        assert ivanova.applicant().iin not in page.content()
        assert page.inner_text("#case-reasons") == "initials_only"
        page.wait_for_selector("#preview:not([hidden])")
        assert page.eval_on_selector("#preview", "img => img.naturalWidth") > 0

        page.fill("#comment", "Ivanova A. in the order's acknowledgement line is the applicant")
        page.click("#accept")
        page.wait_for_selector("#case-decided:not([hidden])")
        assert f"by {REVIEWER}" in page.inner_text("#case-decided")
        assert page.locator("#decision-form").is_hidden()
        audit = page.inner_text("#case-reviews")
        assert REVIEWER in audit and "accept" in audit and "acknowledgement line" in audit

        # back on the queue only the other request waits
        page.click("#to-queue")
        page.wait_for_function("document.querySelector('#queue-total').textContent === '(1)'")
        assert page.locator("#queue-rows tr").evaluate_all("rows => rows.map(r => r.dataset.requestId)") == ["102"]

        # a second decision on the same verdict is refused; without the token nothing is answered
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            again = client.post("/v1/requests/101/review", json={"decision": "reject", "reviewer": "someone"})
            assert again.status_code == 409 and "already decided" in again.json()["detail"]
            assert client.post("/v1/requests/103/review",
                               json={"decision": "reject", "reviewer": "x"}).status_code == 409
            assert client.post("/v1/requests/999/review",
                               json={"decision": "reject", "reviewer": "x"}).status_code == 404
        assert httpx.get(f"{server.url}/v1/reviews").status_code == 401
        assert httpx.get(f"{server.url}/v1/requests/101/preview").status_code == 401

    # the row: the engine's verdict kept, the final one beside it, the audit entry
    row = store.get(101)
    assert row["verdict"] is flagged.verdict and row["review_required"] is True
    assert row["final_verdict"] is True and row["reviewed_by"] == REVIEWER and row["review_decision"] == "accept"
    with store.engine.connect() as conn:
        audit_rows = conn.execute(sa.text("SELECT * FROM ocr_reviews WHERE request_id = 101")).mappings().all()
    assert len(audit_rows) == 1
    assert audit_rows[0]["engine_verdict"] is flagged.verdict and audit_rows[0]["final_verdict"] is True
    assert audit_rows[0]["reviewer"] == REVIEWER and "acknowledgement" in audit_rows[0]["comment"]
    assert audit_rows[0]["review_reasons"] == ["initials_only"]

    # the results topic: the reviewed request is published again with the final verdict and the decision
    assert publish_results(kafka, results_topic, store) == 1
    events = _results(kafka_broker.bootstrap_servers, results_topic, 4)
    assert len(events) == 4
    after = events[-1]
    assert after["request_id"] == 101 and after["verdict"] is flagged.verdict
    assert after["final_verdict"] is True
    assert after["review"]["decision"] == "accept" and after["review"]["reviewed_by"] == REVIEWER
    assert "comment" not in json.dumps(after)
    assert set(after) >= {"request_id", "status", "verdict", "errors", "document_type", "processed_at"}


def test_the_review_page_asks_for_the_token_and_shows_no_data_without_it(s3_server, s3_bucket, store):
    settings = ApiSettings.from_env({
        "DATABASE_URL": store.database_url, "S3_ENDPOINT_URL": s3_server.endpoint_url, "S3_BUCKET": s3_bucket,
        "API_BEARER_TOKEN": TOKEN, "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{services.free_port()}",
    })
    with UvicornThread(create_app(settings)) as server, browser.chromium() as context:
        page = context.new_page()
        page.goto(f"{server.url}/review")
        page.wait_for_selector("#login:not([hidden])")
        page.fill("#token", "wrong-token")
        page.fill("#reviewer", REVIEWER)
        page.click("#login-form button[type=submit]")
        # the API refuses the token: the page forgets it and asks again
        page.wait_for_function("sessionStorage.getItem('token') === null")
        assert page.locator("#login").is_visible()
        assert page.locator("#queue").is_hidden()


def test_a_new_engine_verdict_reopens_the_review_and_keeps_the_audit(store):
    """A re-check writes a new engine verdict: the decision was about the old one, so the request waits
    again (and can be decided again) while the first decision stays in ocr_reviews."""
    from ocr_pipeline.adapters.store import ReviewRefused
    from ocr_pipeline.engine.models import Verdict
    from ocr_pipeline.flows.events import RequestEvent

    applicant = docgen.PEOPLE["kim"].applicant()
    store.record_received(RequestEvent(request_id=7, s3_path="2024/12/7.png", iin=applicant.iin,
                                       last_name=applicant.last_name, first_name=applicant.first_name))
    flagged = Verdict(verdict=True, review_required=True, review_reasons=["surname_only"], document_type="other")
    store.save_verdict(7, flagged, run_id="run-1")
    assert [row["request_id"] for row in store.review_queue()[0]] == [7]
    store.record_review(7, "reject", REVIEWER, "another Kim")
    assert store.review_queue() == ([], 0)
    with pytest.raises(ReviewRefused) as refused:
        store.record_review(7, "accept", "someone else")
    assert refused.value.status == 409

    store.start_attempt(7, "run-2", "processing")  # the re-check takes the row over (the old attempt is over)
    store.save_verdict(7, flagged, run_id="run-2")
    row = store.get(7)
    assert row["final_verdict"] is None and row["reviewed_at"] is None and row["verdict"] is True
    assert [r["request_id"] for r in store.review_queue()[0]] == [7]
    store.record_review(7, "accept", "b.nurlanov")
    audit = store.reviews_of(7)
    assert [(r["decision"], r["run_id"], r["final_verdict"]) for r in audit] == [
        ("reject", "run-1", False), ("accept", "run-2", True)]
