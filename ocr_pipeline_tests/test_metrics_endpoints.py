"""The real metrics endpoints, scraped during real work: the HTTP API served by uvicorn (``/metrics``,
behind the bearer token), and the deployment's processes (a real ``dagster-daemon`` whose code server
evaluates the Kafka sensor, ``ocr-pipeline worker`` with its prefork pool) after events went through
Tansu, moto_server and Postgres."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ocr_pipeline.adapters.store import TERMINAL_STATUSES
from ocr_pipeline.api import ApiSettings
from ocr_pipeline_devtools import docgen, services
from ocr_pipeline_devtools.dagster_fixtures import event_bytes, new_request_id, running_daemon, wait_for
from ocr_pipeline_tests.test_api import serving

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TOKEN = "metrics-test-token"
IVANOVA, AKHMETOV = docgen.PEOPLE["ivanova"], docgen.PEOPLE["akhmetov"]


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """``{(sample name, labels): value}`` of a scrape in Prometheus' text format."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str, **kwargs) -> dict:
    response = httpx.get(url, timeout=10, **kwargs)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def _form(person) -> dict:
    applicant = person.applicant()
    return {"iin": applicant.iin, "last_name": applicant.last_name, "first_name": applicant.first_name,
            "second_name": applicant.second_name}


def _text_pdf(person=IVANOVA, doc_type: str = "maternity_order", seed: int = 1) -> bytes:
    return docgen.to_pdf([docgen.render_document(doc_type, person, seed=seed)], text_layer=True)


def test_the_api_serves_metrics_behind_its_token_and_counts_what_was_uploaded(kafka_broker, s3_server,
                                                                              pg_database_url):
    settings = ApiSettings.from_env({
        "DATABASE_URL": pg_database_url, "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{services.free_port()}", "API_BEARER_TOKEN": TOKEN,
    })
    auth = {"Authorization": f"Bearer {TOKEN}"}
    uploads = [(IVANOVA, True), (IVANOVA, True), (AKHMETOV, False)]
    with serving(settings) as api:
        assert httpx.get(f"{api.url}/metrics", timeout=10).status_code == 401
        before = scrape(f"{api.url}/metrics", headers=auth)
        with api.client(headers=auth) as client:
            for person, expected in uploads:
                response = client.post("/v1/verify", data=_form(person),
                                       files={"file": ("Приказ.pdf", _text_pdf(), "application/pdf")})
                assert response.status_code == 200 and response.json()["verdict"] is expected, response.json()
            assert client.get(f"/v1/requests/{new_request_id()}").status_code == 404
        after = scrape(f"{api.url}/metrics", headers=auth)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ocr_requests_total", path="api", outcome="completed") == 3
    assert moved("ocr_verdicts_total", path="api", verdict="true") == 2
    assert moved("ocr_verdicts_total", path="api", verdict="false") == 1
    assert moved("ocr_request_errors_total", path="api", code="NAME_NOT_FOUND") == 1
    assert moved("ocr_stage_duration_seconds_count", path="api", stage="load") == 3
    assert moved("ocr_api_requests_total", method="POST", route="/v1/verify", status="200") == 3
    assert moved("ocr_api_requests_total", method="GET", route="/v1/requests/{request_id}", status="404") == 1
    assert moved("ocr_api_request_duration_seconds_count", method="POST", route="/v1/verify") == 3
    # the refused scrape counted under its route (the middleware answers before routing), the first
    # allowed one seen by the second
    assert moved("ocr_api_requests_total", method="GET", route="/metrics", status="401") == 0
    assert value(after, "ocr_api_requests_total", method="GET", route="/metrics", status="401") >= 1
    assert moved("ocr_api_requests_total", method="GET", route="/metrics", status="200") == 1


def _document(person_key: str, doc_type: str, seed: int = 1) -> bytes:
    page = docgen.render_document(doc_type, docgen.PEOPLE[person_key], seed=seed)
    return docgen.degrade(page, "clean", seed=seed)


def _event(request_id: int, key: str, person_key: str) -> bytes:
    applicant = docgen.PEOPLE[person_key].applicant()
    return event_bytes(request_id=request_id, s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                       first_name=applicant.first_name, second_name=applicant.second_name)


def test_the_run_workers_and_the_sensor_serve_what_a_batch_of_events_did(deployment, kafka_broker, s3_server):
    worker_port, sensor_port = services.free_port(), services.free_port()
    deployment.env.update(OCR_WORKER_METRICS_PORT=str(worker_port), OCR_SENSOR_METRICS_PORT=str(sensor_port))
    keys = {"ivanova": "2024/12/Приказ - Иванова.png", "stranger": "2024/12/Справка - Ахметов.png",
            "missing": "2024/12/Больничный - Ким.png"}
    s3 = s3_server.client()
    s3.put_object(Bucket=deployment.bucket, Key=keys["ivanova"], Body=_document("ivanova", "maternity_order"))
    s3.put_object(Bucket=deployment.bucket, Key=keys["stranger"],
                  Body=_document("petrenko", "employment_certificate", seed=5))
    ids = {name: new_request_id() for name in keys}
    valid = [_event(ids["ivanova"], keys["ivanova"], "ivanova"), _event(ids["stranger"], keys["stranger"], "akhmetov"),
             _event(ids["missing"], keys["missing"], "kim")]
    invalid = [b"{not json", json.dumps({"request_id": new_request_id(), "s3_path": "x.pdf"}).encode()]
    services.produce(kafka_broker.bootstrap_servers, deployment.topic, valid + invalid, partition=0)
    services.produce(kafka_broker.bootstrap_servers, deployment.topic, [b"[]"], partition=1)

    with running_daemon(deployment.env, deployment.log_dir / "daemon.log") as daemon:
        def done():
            rows = [deployment.store.get(rid) for rid in ids.values()]
            return all(row is not None and row["status"] in TERMINAL_STATUSES for row in rows)

        wait_for(done, 300, what="the three requests to end", on_timeout=daemon.log_tail)

        def worker_scrape():
            try:
                scraped = scrape(f"http://127.0.0.1:{worker_port}/metrics")
            except httpx.HTTPError:
                return None
            # the IO manager counts after the row is written: wait for the last count
            return scraped if value(scraped, "ocr_requests_total", path="run", outcome="completed") >= 2 else None

        workers = wait_for(worker_scrape, 30, what="the run workers' metrics", on_timeout=daemon.log_tail)
        sensor = scrape(f"http://127.0.0.1:{sensor_port}/metrics")
        pool = daemon.worker_pool_pids()

    assert len(pool) == 2  # two pool processes, one scrape: their sum
    assert value(workers, "ocr_requests_total", path="run", outcome="completed") == 2
    assert value(workers, "ocr_requests_total", path="run", outcome="failed") == 1
    assert value(workers, "ocr_verdicts_total", path="run", verdict="true") == 1
    assert value(workers, "ocr_verdicts_total", path="run", verdict="false") == 1
    assert value(workers, "ocr_request_errors_total", path="run", code="NAME_NOT_FOUND") == 1
    assert value(workers, "ocr_request_errors_total", path="run", code="S3_OBJECT_NOT_FOUND") == 1
    for stage in ("download", "load", "preprocess", "ocr", "verify"):
        assert value(workers, "ocr_stage_duration_seconds_count", path="run", stage=stage) == 2, stage
    assert value(workers, "ocr_end_to_end_seconds_count", path="run") == 2
    assert value(workers, "ocr_end_to_end_seconds_sum", path="run") > 0

    assert value(sensor, "ocr_kafka_events_total", outcome="run_requested") == 3
    assert value(sensor, "ocr_kafka_events_total", outcome="invalid") == 3
    for partition in ("0", "1"):  # everything produced was read
        assert value(sensor, "ocr_kafka_consumer_lag", topic=deployment.topic, partition=partition) == 0
    assert ("ocr_runs_queued", frozenset()) in sensor
