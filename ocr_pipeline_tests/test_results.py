"""Result events to KAFKA_RESULTS_TOPIC: consumed back from Tansu; Postgres database of its own."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from kafka import KafkaConsumer, TopicPartition

from ocr_pipeline.adapters.kafka import KafkaSettings, KafkaUnavailable
from ocr_pipeline.adapters.results import publish_results
from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.defs.resources import KafkaResource, VerdictStoreResource
from ocr_pipeline.defs.sensors import result_events_sensor
from ocr_pipeline.engine.models import Verdict
from ocr_pipeline.flows.events import RequestEvent
from ocr_pipeline_devtools import services
from ocr_pipeline_devtools.dagster_fixtures import make_iin

pytestmark = pytest.mark.integration

IIN = make_iin("850704", "3", "0012")


@pytest.fixture
def store(pg_database_url):
    """A database of its own: the outbox query sees only this test's rows."""
    with services.temporary_postgres_database(prefix="ocr_results") as url:
        store = VerdictStore(url)
        store.ensure_schema()
        yield store
        store.engine.dispose()


def _consume(bootstrap_servers: str, topic: str, expected: int) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=100)
    records = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        for _ in range(50):
            for batch in consumer.poll(timeout_ms=200).values():
                records += batch
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def _event(request_id: int) -> RequestEvent:
    return RequestEvent(request_id=request_id, s3_path=f"2024/12/{request_id}.pdf", iin=IIN,
                        last_name="Иванов", first_name="Иван")


def test_terminal_requests_publish_one_result_each(kafka_broker, new_topic, store):
    topic = new_topic(prefix="results")
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, topic="requests",
                             request_timeout_ms=5000)
    for request_id in (1, 2, 3):
        store.record_received(_event(request_id))
    store.save_verdict(1, Verdict(verdict=True, document_type="dismissal_order", confidence=0.9), "run-1")
    store.mark_failed(2, "no object", errors=[{"code": "S3_OBJECT_NOT_FOUND", "message": "no object"}])
    store.record_invalid(topic="requests", partition=0, offset=7, reason="iin fails the checksum", request_id=4)

    assert publish_results(settings, None, store) == 0  # off when KAFKA_RESULTS_TOPIC is unset
    assert publish_results(settings, topic, store) == 3  # request 3 is still in progress
    records = _consume(kafka_broker.bootstrap_servers, topic, 3)
    events = {int(r.key): json.loads(r.value) for r in records}
    assert sorted(events) == [1, 2, 4]
    assert events[1]["status"] == "completed" and events[1]["verdict"] is True and events[1]["errors"] == []
    assert events[1]["document_type"] == "dismissal_order" and events[1]["processed_at"]
    assert events[2]["status"] == "failed" and events[2]["errors"][0]["code"] == "S3_OBJECT_NOT_FOUND"
    assert events[4]["status"] == "invalid" and "checksum" in events[4]["error_message"]
    assert set(events[1]) >= {"request_id", "status", "verdict", "errors", "document_type", "processed_at"}

    assert publish_results(settings, topic, store) == 0  # published once

    store.save_verdict(2, Verdict(verdict=False, errors=[{"code": "NAME_NOT_FOUND", "message": "-"}]), "run-2")
    assert publish_results(settings, topic, store) == 1  # a re-check's new outcome is published again
    latest = _consume(kafka_broker.bootstrap_servers, topic, 4)[-1]
    assert int(latest.key) == 2 and json.loads(latest.value)["errors"][0]["code"] == "NAME_NOT_FOUND"


def test_an_unreachable_broker_leaves_results_for_the_next_tick(kafka_broker, new_topic, store):
    store.record_received(_event(10))
    store.save_verdict(10, Verdict(verdict=True), "run-10")
    down = KafkaSettings(bootstrap_servers=f"127.0.0.1:{services.free_port()}", topic="requests",
                         request_timeout_ms=1000)
    with pytest.raises(KafkaUnavailable):
        publish_results(down, "results", store)
    assert [row["request_id"] for row in store.unpublished_results()] == [10]  # at least once

    topic = new_topic(prefix="results")
    resources = {
        "kafka": KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers, topic="requests",
                               results_topic=topic, request_timeout_ms=5000),
        "verdict_store": VerdictStoreResource(database_url=store.database_url),
    }
    outcome = result_events_sensor.evaluate_tick(dg.build_sensor_context(resources=resources))
    assert outcome.skip_message == "1 result event(s) published" and not outcome.run_requests
    assert int(_consume(kafka_broker.bootstrap_servers, topic, 1)[0].key) == 10

    off = {**resources, "kafka": KafkaResource(bootstrap_servers="127.0.0.1:1", topic="requests")}
    outcome = result_events_sensor.evaluate_tick(dg.build_sensor_context(resources=off))
    assert "not set" in outcome.skip_message


def test_backfill_rows_with_synthetic_ids_publish_no_result(kafka_broker, new_topic, store):
    from ocr_pipeline.flows.backfill import synthetic_request_id

    synthetic = synthetic_request_id("loan-documents", "2024/12/scan.pdf")
    assert synthetic < 0
    store.save_verdict(synthetic, Verdict(verdict=True), "backfill-run")  # as a backfill writes it
    store.record_received(_event(20))
    store.save_verdict(20, Verdict(verdict=True), "run-20")
    topic = new_topic(prefix="results")
    resources = {
        "kafka": KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers, topic="requests",
                               results_topic=topic, request_timeout_ms=5000),
        "verdict_store": VerdictStoreResource(database_url=store.database_url),
    }

    outcome = result_events_sensor.evaluate_tick(dg.build_sensor_context(resources=resources))

    assert outcome.skip_message == "1 result event(s) published"
    records = _consume(kafka_broker.bootstrap_servers, topic, 2)
    assert [int(r.key) for r in records] == [20]
    assert store.unpublished_results() == []  # the synthetic row is not waiting either
