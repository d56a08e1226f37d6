"""The Kafka sensor, evaluated with ``build_sensor_context`` against Tansu and Postgres."""

from __future__ import annotations

import contextlib
import json
import logging

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_run_for_test
from dagster_aws.s3 import S3Resource

from ocr_pipeline.definitions import defs
from ocr_pipeline.defs.resources import DocumentBucketResource, KafkaResource, VerdictStoreResource
from ocr_pipeline.defs.sensors import kafka_requests_sensor
from ocr_pipeline.defs.sensors.kafka_requests import decode_cursor
from ocr_pipeline_devtools import services
from ocr_pipeline_devtools.dagster_fixtures import event_bytes, make_iin, new_request_id
from ocr_pipeline_devtools.fault_report import record_fault

pytestmark = pytest.mark.integration

IIN = make_iin("850704", "3", "0012")


@pytest.fixture
def topic(new_topic) -> str:
    return new_topic(partitions=2, prefix="sensor")


@pytest.fixture
def resources(kafka_broker, topic, pg_database_url, s3_server, s3_bucket) -> dict:
    return {
        "kafka": KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic,
                               group_id=f"group-{topic}", request_timeout_ms=5000),
        "verdict_store": VerdictStoreResource(database_url=pg_database_url),
        "documents": DocumentBucketResource(s3=S3Resource(endpoint_url=s3_server.endpoint_url,
                                                          region_name="us-east-1"), bucket=s3_bucket),
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
    with dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance) as context:
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
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(request_id)], partition=0)
    second = _tick(resources, instance, first.cursor)
    assert [r.run_key for r in second.run_requests] == [str(request_id)]  # Dagster skips a taken run_key
    row = store.get(request_id)
    assert row["status"] == "failed" and row["error_message"] == "boom"
    assert store.invalid_events(topic) == []  # an identical duplicate is no conflict


@pytest.mark.faults
def test_a_conflicting_duplicate_is_recorded_and_never_overwrites_the_row(
    kafka_broker, topic, resources, instance, store
):
    """A request_id already recorded by /v1/verify (s3_path ``upload:<file>``) and completed comes again
    from Kafka with other content: no run request (the run would read the row, look for the upload in
    S3 and clear the verdict), the row and its verdict stay, and the conflict is an invalid event with
    reason ``conflicting_duplicate`` holding the new event's raw value."""
    from ocr_pipeline.flows.events import RequestEvent
    from ocr_pipeline_tests.test_store import _verdict

    request_id = new_request_id()
    store.record_received(RequestEvent(request_id=request_id, s3_path="upload:scan.pdf", iin=IIN,
                                       last_name="Жармағанбетова", first_name="Айгүл", second_name="Серікқызы"))
    store.start_attempt(request_id, "api-run")
    store.save_verdict(request_id, _verdict(), "api-run")
    conflicting = _valid(request_id)  # the Kafka version: another s3_path
    services.produce(kafka_broker.bootstrap_servers, topic, [conflicting], partition=0)

    result = _tick(resources, instance)

    row = store.get(request_id)
    conflicts = [e for e in store.invalid_events(topic) if e["reason"].startswith("conflicting_duplicate")]
    record_fault("Request id again from Kafka with other content, after a /v1/verify verdict", 1,
                 lost=int(not conflicts), duplicated=len(result.run_requests),
                 note=f"row kept: {row['status']} verdict {row['verdict']}; conflict rows {len(conflicts)}")
    assert not result.run_requests
    assert row["status"] == "completed" and row["verdict"] is True and row["s3_path"] == "upload:scan.pdf"
    [conflict] = store.invalid_events(topic)
    assert conflict["request_id"] == request_id and (conflict["kafka_partition"], conflict["kafka_offset"]) == (0, 0)
    assert conflict["reason"].startswith(f"conflicting_duplicate: request {request_id} is already recorded "
                                         "(status completed) with another s3_path")
    assert IIN not in conflict["reason"]
    assert conflict["raw_excerpt"] == conflicting.decode()
    assert decode_cursor(result.cursor)[0] == 1


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


def test_an_open_s3_breaker_leaves_events_in_kafka_until_a_probe_finds_s3_back(
        kafka_broker, topic, resources, instance, pg_database_url, monkeypatch):
    from ocr_pipeline.adapters.s3_breaker import S3Breaker

    monkeypatch.setenv("S3_BREAKER_FAILURES", "2")
    monkeypatch.setenv("S3_BREAKER_COOLDOWN_SECONDS", "3600")
    request_id = new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(request_id)], partition=0)
    breaker = S3Breaker(pg_database_url, threshold=2)
    breaker.record_failure()
    breaker.record_failure()  # e.g. two runs' downloads failed: open
    try:
        result = _tick(resources, instance, '{"0": 0}')
        assert not result.run_requests and "S3 circuit breaker open" in result.skip_message
        assert result.cursor == '{"0": 0}'  # unchanged: the event waits in Kafka
        monkeypatch.setenv("S3_BREAKER_COOLDOWN_SECONDS", "0")  # cool-down over: the tick probes S3, it answers
        result = _tick(resources, instance, '{"0": 0}')
        assert [r.run_key for r in result.run_requests] == [str(request_id)]
    finally:
        breaker.record_success()


def test_a_full_run_queue_leaves_events_in_kafka(kafka_broker, topic, resources, instance, monkeypatch):
    monkeypatch.setenv("OCR_SENSOR_MAX_QUEUED_RUNS", "1")
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(new_request_id())], partition=0)
    # a created, not yet launched run (a QUEUED one needs a code location origin to be built)
    create_run_for_test(instance, job_name="verify_request", status=dg.DagsterRunStatus.NOT_STARTED)

    result = _tick(resources, instance, '{"0": 0}')
    assert not result.run_requests and "queued" in result.skip_message
    assert result.cursor == '{"0": 0}'  # unchanged


def test_broker_down_fails_the_tick_without_moving_the_cursor(resources, instance, topic):
    from ocr_pipeline.adapters.kafka import KafkaUnavailable

    resources = dict(resources, kafka=KafkaResource(
        bootstrap_servers=f"127.0.0.1:{services.free_port()}", topic=topic, request_timeout_ms=2000))
    with dg.build_sensor_context(cursor='{"0": 5}', resources=resources, instance=instance) as context:
        with pytest.raises(KafkaUnavailable):
            kafka_requests_sensor.evaluate_tick(context)
        assert context.cursor == '{"0": 5}'


def test_an_event_the_database_refuses_is_invalid_and_the_partition_moves_on(
        kafka_broker, topic, resources, instance, store, monkeypatch):
    import sqlalchemy as sa

    from ocr_pipeline.defs.sensors.kafka_requests import SensorLimits, poll_requests

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


def _url_forms(pg_database_url: str) -> dict[str, str]:
    """The test database's URL as people write it: postgres://, postgresql://, postgresql+psycopg2://."""
    rest = pg_database_url.split("://", 1)[1]
    return {scheme: f"{scheme}://{rest}" for scheme in ("postgres", "postgresql", "postgresql+psycopg2")}


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_every_usual_database_url_form_works_in_the_sensor(
        scheme, kafka_broker, topic, resources, instance, pg_database_url, monkeypatch):
    from ocr_pipeline.defs.resources import build_resources

    monkeypatch.setenv("DATABASE_URL", _url_forms(pg_database_url)[scheme])  # as the code location reads it
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC", topic)
    built = build_resources()
    request_id = new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(request_id)], partition=0)

    result = _tick({"kafka": built["kafka"], "verdict_store": built["verdict_store"],
                    "documents": resources["documents"]}, instance)

    assert [r.run_key for r in result.run_requests] == [str(request_id)]
    assert VerdictStoreResource(database_url=pg_database_url).get_store().get(request_id)["status"] == "received"



def _deeply_nested(request_id: int, depth: int) -> bytes:
    """A valid event whose extra field ``deep`` is ``depth`` arrays deep."""
    valid = json.loads(_valid(request_id))
    text = json.dumps(valid, ensure_ascii=False)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    return text.encode("utf-8")


def _deepest_nesting_the_sensor_parses(kafka_broker, new_topic, resources, instance) -> int:
    """How deep a ``deep`` field JSON parsing takes, measured in a profile hook when a real tick calls
    ``parse_event`` (the hook's own frames cost a few levels: events 1-3 levels deeper than this still
    parse, and recording them, a few frames deeper than the parsing, runs out of stack). In the daemon,
    whose stack is deeper than pytest's, such events were ~930 levels deep."""
    import sys

    from ocr_pipeline.flows.events import parse_event

    calibration = new_topic(partitions=1, prefix="calibrate")
    services.produce(kafka_broker.bootstrap_servers, calibration, [_valid(new_request_id())], partition=0)
    found: list[int] = []

    def loads(depth: int) -> bool:
        try:
            json.loads('{"deep": ' + "[" * depth + "]" * depth + "}")
            return True
        except RecursionError:
            return False

    def hook(frame, event, _arg):
        if event == "call" and frame.f_code is parse_event.__code__ and not found:
            low, high = 1, 5000  # loads(low) holds, loads(high) fails
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if loads(middle) else (low, middle)
            found.append(low)

    sys.setprofile(hook)
    try:
        _tick(dict(resources, kafka=KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers,
                                                  topic=calibration, request_timeout_ms=5000)), instance)
    finally:
        sys.setprofile(None)
    assert found and 100 < found[0] < 1000, found
    return found[0]


@pytest.mark.faults
def test_deeply_nested_events_are_invalid_and_the_events_after_them_are_processed(
        kafka_broker, new_topic, topic, resources, instance, store, caplog):
    measured = _deepest_nesting_the_sensor_parses(kafka_broker, new_topic, resources, instance)
    poisons, valid = [new_request_id() for _ in range(3)], [new_request_id() for _ in range(3)]
    values = []
    for extra_levels, (poison, after) in enumerate(zip(poisons, valid), start=1):
        values += [_deeply_nested(poison, measured + extra_levels), _valid(after)]
    services.produce(kafka_broker.bootstrap_servers, topic, values, partition=0)
    caplog.set_level(logging.INFO)

    result = _tick(resources, instance)

    invalid = store.invalid_events(topic)
    handled = [r.run_key for r in result.run_requests]
    record_fault("Poison events (extra field nested past the parser's depth) among valid ones", 6,
                 lost=6 - len(handled) - len(invalid), crashed=0,
                 note=f"3 events nested {measured + 1}-{measured + 3} levels deep, each followed by a valid one, "
                      f"one tick: {len(invalid)} recorded invalid, {len(handled)} run requests, cursor "
                      f"{decode_cursor(result.cursor)[0]}/6 (before: RecursionError on every tick, the partition "
                      "stopped)")
    assert handled == [str(i) for i in valid]
    assert decode_cursor(result.cursor)[0] == 6
    assert [(r["request_id"], r["kafka_offset"]) for r in invalid] == list(zip(poisons, (0, 2, 4)))
    assert all(store.get(i)["status"] == "invalid" for i in poisons)
    assert all(store.get(i)["status"] == "received" for i in valid)
    assert IIN not in caplog.text and "Жармағанбетова" not in caplog.text


@contextlib.contextmanager
def _postgres_refuses(store, table: str, request_id: int, status: str | None = None):
    """A trigger on ``table`` that makes the real Postgres refuse inserts of ``request_id`` (with
    ``status``, when given) as a failing statement: an error no event check foresees."""
    name = f"refuse_{table}_{request_id}"
    condition = f"NEW.request_id = {int(request_id)}" + (f" AND NEW.status = '{status}'" if status else "")
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                             f"$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"))
        conn.execute(sa.text(f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
                             f"WHEN ({condition}) EXECUTE FUNCTION {name}()"))
    try:
        yield
    finally:
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TRIGGER {name} ON {table}"))
            conn.execute(sa.text(f"DROP FUNCTION {name}()"))


def test_any_failure_to_record_an_event_makes_it_invalid_and_the_partition_moves_on(
        kafka_broker, topic, resources, instance, store):
    poison, after = new_request_id(), new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(poison), _valid(after)], partition=0)

    with _postgres_refuses(store, "ocr_requests", poison, status="received"):
        result = _tick(resources, instance)

    assert [r.run_key for r in result.run_requests] == [str(after)]
    assert decode_cursor(result.cursor)[0] == 2
    [invalid] = store.invalid_events(topic)
    assert invalid["request_id"] == poison and "could not be recorded" in invalid["reason"], invalid
    assert IIN not in invalid["reason"] and store.get(poison)["status"] == "invalid"


def test_an_event_not_even_recordable_as_invalid_is_retried_then_dead_lettered(
        kafka_broker, new_topic, topic, resources, instance, store, caplog, capfd):
    dead_letters = new_topic(partitions=1, prefix="dead")
    resources = dict(resources, kafka=KafkaResource(
        bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, group_id=f"group-{topic}",
        request_timeout_ms=5000, dead_letter_topic=dead_letters))
    poison, after = new_request_id(), new_request_id()
    other_partition = new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(poison), _valid(after)], partition=0)
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(other_partition)], partition=1)
    caplog.set_level(logging.INFO)

    cursor, ticks = None, []
    with _postgres_refuses(store, "ocr_requests", poison, status="received"), \
            _postgres_refuses(store, "ocr_invalid_events", poison):
        for _ in range(3):
            result = _tick(resources, instance, cursor)
            ticks.append(([r.run_key for r in result.run_requests], decode_cursor(result.cursor)))
            cursor = result.cursor

    # the first two ticks leave partition 0 at the event (counted in the cursor); the other partition goes on
    assert ticks[0] == ([str(other_partition)], {0: 0, 1: 1})
    assert ticks[1] == ([], {0: 0, 1: 1})
    # the third dead-letters it and moves on
    assert ticks[2] == ([str(after)], {0: 2, 1: 1})
    assert store.invalid_events(topic) == []
    logged = caplog.text + capfd.readouterr().err  # the sensor logs through context.log (to stderr)
    assert "attempt 1 of 3" in logged and "attempt 2 of 3" in logged and f"dead-letter topic {dead_letters}" in logged
    assert IIN not in logged and "Жармағанбетова" not in logged

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    try:
        consumer.assign([TopicPartition(dead_letters, 0)])
        consumer.seek_to_beginning()
        [dead] = list(consumer)
    finally:
        consumer.close()
    assert dead.value == _valid(poison)
    headers = dict(dead.headers)
    assert headers["ocr-source-topic"].decode() == topic and headers["ocr-source-offset"] == b"0"
    assert b"could not be recorded" in headers["ocr-reason"]


# ------------------------------------------------------------- offsets that go backwards

def _recreate(bootstrap_servers: str, topic: str, partitions: int) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()
    services.create_topic(bootstrap_servers, topic, partitions)


@pytest.mark.faults
def test_a_recreated_topic_is_read_from_its_start_and_the_reset_recorded(
    kafka_broker, topic, resources, instance, store, caplog
):
    """The topic is deleted and recreated while the sensor's cursor stands at offset 5: the new events
    (offsets 0-2, below the cursor) are all processed, the invalid one recorded although an old invalid
    event had the same offset, and the reset is an ocr_invalid_events row and an ERROR."""
    bootstrap = kafka_broker.bootstrap_servers
    old = [new_request_id() for _ in range(4)]
    services.produce(bootstrap, topic, [_valid(old[0]), _valid(old[1]), b"old garbage {", _valid(old[2]),
                                        _valid(old[3])], partition=0)
    first = _tick(resources, instance)
    assert decode_cursor(first.cursor) == {0: 5, 1: 0}

    _recreate(bootstrap, topic, 2)
    new = [new_request_id() for _ in range(2)]
    services.produce(bootstrap, topic, [_valid(new[0]), _valid(new[1]), b"new garbage {"], partition=0)
    caplog.set_level(logging.INFO)
    second = _tick(resources, instance, first.cursor)
    third = _tick(resources, instance, second.cursor)

    rows = store.invalid_events(f"{topic}#2")
    handled = ({r.run_key for r in second.run_requests} & {str(i) for i in new}) | (
        {"garbage"} if any(r["raw_excerpt"] == "new garbage {" for r in rows) else set())
    record_fault("Kafka topic deleted and recreated under the sensor's cursor", 3, lost=3 - len(handled),
                 duplicated=len(third.run_requests),
                 note=f"cursor {decode_cursor(first.cursor)} -> {decode_cursor(second.cursor)} after the reset; "
                      f"reset rows {sum(1 for r in rows if r['kafka_offset'] == -1)}; "
                      f"invalid event at a reused offset recorded: {'garbage' in handled}")
    assert sorted(r.run_key for r in second.run_requests) == sorted(str(i) for i in new)
    assert decode_cursor(second.cursor) == {0: 3, 1: 0} and decode_cursor(third.cursor) == {0: 3, 1: 0}
    assert not third.run_requests  # read once, not again every tick
    assert store.get(new[0])["status"] == "received" and store.get(new[1])["status"] == "received"
    assert [(r["kafka_partition"], r["kafka_offset"]) for r in rows] == [(0, -1), (0, 2)]
    assert rows[0]["reason"].startswith("offset_reset: cursor 5 of") and "beyond the end offset 3" in rows[0]["reason"]
    assert "restarted at 0" in rows[0]["reason"] and rows[1]["raw_excerpt"] == "new garbage {"
    assert [r["raw_excerpt"] for r in store.invalid_events(topic)] == ["old garbage {"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("offset_reset: cursor 5" in message for message in errors), errors


@pytest.mark.faults
@pytest.mark.parametrize("policy", ["earliest", "latest"])
def test_a_cursor_beyond_the_end_restarts_where_kafka_offset_reset_says(
    kafka_broker, topic, resources, instance, store, policy
):
    """Tansu keeps no delete-records nor retention, so a cursor past the partition's end (what a
    truncated or recreated topic leaves) stands for every out-of-range cursor: ``earliest`` reads the
    three events, ``latest`` skips them, and either way the reset is recorded, never silent."""
    ids = [new_request_id() for _ in range(3)]
    services.produce(kafka_broker.bootstrap_servers, topic, [_valid(i) for i in ids], partition=1)
    kafka = resources["kafka"]
    resources = {**resources, "kafka": KafkaResource(bootstrap_servers=kafka.bootstrap_servers, topic=topic,
                                                     group_id=kafka.group_id, request_timeout_ms=5000,
                                                     offset_reset=policy)}

    result = _tick(resources, instance, json.dumps({"0": 0, "1": 1000}))

    read = sorted(r.run_key for r in result.run_requests)
    rows = store.invalid_events(f"{topic}#2")
    if policy == "earliest":
        record_fault("Sensor cursor beyond the partition's end (KAFKA_OFFSET_RESET=earliest)", len(ids),
                     lost=len(ids) - len(read), note=f"cursor 1000 -> {decode_cursor(result.cursor)[1]}; "
                                                     f"reset rows {len(rows)}")
    assert read == (sorted(str(i) for i in ids) if policy == "earliest" else [])
    assert decode_cursor(result.cursor) == {0: 0, 1: 3}
    assert [(r["kafka_partition"], r["kafka_offset"]) for r in rows] == [(1, -1)]
    assert f"restarted at {0 if policy == 'earliest' else 3} (KAFKA_OFFSET_RESET={policy})" in rows[0]["reason"]
