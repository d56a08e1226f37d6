"""The Kafka sensor, evaluated with ``build_sensor_context`` against Tansu and Postgres."""

from __future__ import annotations

import json
import logging

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from ocr_pipeline.definitions import defs
from ocr_pipeline.resources import KafkaResource, VerdictStoreResource
from ocr_pipeline.sensors import kafka_requests_sensor
from ocr_pipeline.sensors.kafka_requests import decode_cursor
from ocr_pipeline_tests import services
from ocr_pipeline_tests.dagster_fixtures import event_bytes, make_iin, new_request_id

IIN = make_iin("850704", "3", "0012")


@pytest.fixture
def topic(new_topic) -> str:
    return new_topic(partitions=2, prefix="sensor")


@pytest.fixture
def resources(kafka_broker, topic, pg_database_url) -> dict:
    return {
        "kafka": KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic,
                               group_id=f"group-{topic}", request_timeout_ms=5000),
        "verdict_store": VerdictStoreResource(database_url=pg_database_url),
    }


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def store(resources):
    return resources["verdict_store"].get_store()


def _valid(request_id: int, **overrides) -> bytes:
    fields = dict(request_id=request_id, s3_path=f"2024/12/Приказ {request_id} - Жармағанбетова.pdf",
                  iin=IIN, last_name="Жармағанбетова", first_name="Айгүл", second_name="Серікқызы")
    fields.update(overrides)
    return event_bytes(**fields)


def _tick(resources, instance, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance)
    return kafka_requests_sensor.evaluate_tick(context)


def test_valid_events_become_one_run_request_each(kafka_broker, topic, resources, instance, store):
    ids = [new_request_id() for _ in range(3)]
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(ids[0]), _valid(ids[1])], partition=0)
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(ids[2], channel="ios")], partition=1)

    result = _tick(resources, instance)

    assert sorted(r.run_key for r in result.run_requests) == sorted(str(i) for i in ids)
    job = defs.resolve_job_def("verify_request")
    for request in result.run_requests:
        assert request.tags["request_id"] == request.run_key
        assert request.tags["iin"] == IIN[:4] + "******" + IIN[-2:]
        assert IIN not in json.dumps(request.tags)
        assert request.run_config["ops"]["request_verdict"]["config"] == {"request_id": int(request.run_key)}
        assert IIN not in json.dumps(request.run_config)
        assert dg.validate_run_config(job, request.run_config)
    assert decode_cursor(result.cursor) == {0: 2, 1: 1}

    row = store.get(ids[2])
    assert row["status"] == "received" and (row["kafka_partition"], row["kafka_offset"]) == (1, 0)
    assert row["extra"] == {"channel": "ios"} and row["first_name"] == "Айгүл"


def test_invalid_events_are_recorded_and_skipped(kafka_broker, topic, resources, instance, store, caplog):
    first, bad_iin_id, last = new_request_id(), new_request_id(), new_request_id()
    bad_iin = IIN[:-1] + str((int(IIN[-1]) + 1) % 10)
    produce = services.produce
    produce(kafka_broker.bootstrap_servers, topic,
            [b"this is not JSON {", _valid(first), _valid(bad_iin_id, iin=bad_iin)], partition=0)
    produce(kafka_broker.bootstrap_servers, topic, [None], partition=0, key=b"tombstone")
    produce(kafka_broker.bootstrap_servers, topic,
            [json.dumps({"request_id": "12", "s3_path": "x.pdf"}).encode(), _valid(last)], partition=0)
    caplog.set_level(logging.INFO)

    result = _tick(resources, instance)

    assert [r.run_key for r in result.run_requests] == [str(first), str(last)]
    assert decode_cursor(result.cursor)[0] == 6
    rejected = store.invalid_events(topic)
    assert [(r["kafka_partition"], r["kafka_offset"]) for r in rejected] == [(0, 0), (0, 2), (0, 3), (0, 4)]
    assert "not JSON" in rejected[0]["reason"] and rejected[0]["raw_excerpt"] == "this is not JSON {"
    assert rejected[1]["request_id"] == bad_iin_id and "checksum" in rejected[1]["reason"]
    assert rejected[2]["raw_excerpt"] is None and rejected[3]["request_id"] is None
    assert store.get(bad_iin_id)["status"] == "invalid"
    assert store.get(last)["status"] == "received"
    assert bad_iin not in caplog.text and IIN not in caplog.text

    # replaying the same offsets (a tick whose cursor was never saved) records nothing twice
    again = _tick(resources, instance)
    assert [r.run_key for r in again.run_requests] == [str(first), str(last)]
    assert len(store.invalid_events(topic)) == 4


def test_duplicate_request_id_gives_the_same_run_key(kafka_broker, topic, resources, instance, store):
    request_id = new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(request_id), _valid(request_id)], partition=0)
    first = _tick(resources, instance)
    assert [r.run_key for r in first.run_requests] == [str(request_id)]

    store.start_attempt(request_id, "run-1")
    store.mark_failed(request_id, "boom", run_id="run-1")
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(request_id, s3_path="other.pdf")], partition=0)
    second = _tick(resources, instance, first.cursor)
    assert [r.run_key for r in second.run_requests] == [str(request_id)]  # Dagster skips a taken run_key
    row = store.get(request_id)
    assert row["status"] == "failed" and row["s3_path"] != "other.pdf"


def test_events_per_tick_are_capped_and_ticks_resume_from_the_cursor(
    kafka_broker, topic, resources, instance, monkeypatch
):
    monkeypatch.setenv("OCR_SENSOR_MAX_EVENTS_PER_TICK", "3")
    ids = [new_request_id() for _ in range(7)]
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(i) for i in ids], partition=1)

    seen: list[str] = []
    cursor = None
    for expected in (3, 3, 1):
        result = _tick(resources, instance, cursor)
        assert len(result.run_requests) == expected
        seen += [r.run_key for r in result.run_requests]
        cursor = result.cursor
    assert seen == [str(i) for i in ids]
    assert decode_cursor(cursor)[1] == 7

    idle = _tick(resources, instance, cursor)
    assert not idle.run_requests and idle.skip_message and idle.cursor == cursor

    # each tick committed the cursor it started from to the consumer group (for lag monitoring)
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers,
                             group_id=resources["kafka"].group_id, enable_auto_commit=False)
    try:
        assert consumer.committed(TopicPartition(topic, 1)) == 7
    finally:
        consumer.close()


def test_a_full_run_queue_leaves_events_in_kafka(kafka_broker, topic, resources, instance, monkeypatch):
    monkeypatch.setenv("OCR_SENSOR_MAX_QUEUED_RUNS", "1")
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(new_request_id())], partition=0)
    # a created, not yet launched run (a QUEUED one needs a code location origin to be built)
    create_run_for_test(instance, job_name="verify_request", status=dg.DagsterRunStatus.NOT_STARTED)

    result = _tick(resources, instance, '{"0": 0}')
    assert not result.run_requests and "queued" in result.skip_message
    assert result.cursor == '{"0": 0}'  # unchanged


def test_broker_down_fails_the_tick_without_moving_the_cursor(resources, instance, topic):
    from ocr_pipeline.kafka_source import KafkaUnavailable

    resources = dict(resources, kafka=KafkaResource(
        bootstrap_servers=f"127.0.0.1:{services.free_port()}", topic=topic, request_timeout_ms=2000))
    context = dg.build_sensor_context(cursor='{"0": 5}', resources=resources, instance=instance)
    with pytest.raises(KafkaUnavailable):
        kafka_requests_sensor.evaluate_tick(context)
    assert context.cursor == '{"0": 5}'


def test_an_event_the_database_refuses_is_invalid_and_the_partition_moves_on(
        kafka_broker, topic, resources, instance, store, monkeypatch):
    import sqlalchemy as sa

    from ocr_pipeline.sensors.kafka_requests import SensorLimits, poll_requests

    refused, after = new_request_id(), new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(refused), _valid(after)], partition=0)
    record_received = store.record_received

    def refusing(event, *args, **kwargs):  # the values of a future parser gap Postgres would refuse
        if event.request_id == refused:
            raise sa.exc.DataError("INSERT ...", {}, Exception("invalid input syntax"))
        return record_received(event, *args, **kwargs)

    monkeypatch.setattr(store, "record_received", refusing)
    result = poll_requests(resources["kafka"].settings(), store, None, SensorLimits(), instance=instance)

    assert [r.run_key for r in result.run_requests] == [str(after)]
    assert decode_cursor(result.cursor)[0] == 2
    [invalid] = store.invalid_events(topic)
    assert invalid["request_id"] == refused and "database refused" in invalid["reason"]

    def unreachable(event, *args, **kwargs):
        raise sa.exc.OperationalError("INSERT ...", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "record_received", unreachable)
    with pytest.raises(sa.exc.OperationalError):  # the tick fails; its cursor is not saved
        poll_requests(resources["kafka"].settings(), store, None, SensorLimits(), instance=instance)
