"""fetch_batch / commit_offsets / produce_events against a real Tansu broker."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ocr_pipeline.adapters.kafka import (
    FetchedRecord,
    KafkaSettings,
    KafkaTopicNotFound,
    KafkaUnavailable,
    commit_offsets,
    committed_offsets,
    fetch_batch,
    produce_events,
)
from ocr_pipeline_devtools import services

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka_broker, new_topic):
    """Settings for a fresh 3-partition topic and a group of its own."""
    topic = new_topic(partitions=3)
    return KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, group_id=f"g-{topic}")


def fetch_all(settings, cursor, max_records=1000, budget=5.0):
    return fetch_batch(settings, cursor, max_records=max_records, time_budget_seconds=budget)


def values_by_partition(records: list[FetchedRecord]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for r in records:
        out.setdefault(r.partition, []).append(r.value)
    return out


def test_fetches_every_partition_in_offset_order_with_full_cursor(settings):
    produce_events(settings, [b"p0-a", b"p0-b", b"p0-c"], partition=0)
    produce_events(settings, [b"p2-a"], partition=2, key=b"k")

    records, cursor = fetch_all(settings, {})

    assert values_by_partition(records) == {0: [b"p0-a", b"p0-b", b"p0-c"], 2: [b"p2-a"]}
    assert [(r.partition, r.offset) for r in records] == [(0, 0), (0, 1), (0, 2), (2, 0)]
    assert records[-1].key == b"k" and records[0].key is None
    assert all(r.timestamp_ms and abs(r.timestamp_ms / 1000 - time.time()) < 300 for r in records)
    assert cursor == {0: 3, 1: 0, 2: 1}  # the empty partition is covered too


def test_cursor_resumes_across_calls_without_duplicates(settings):
    produce_events(settings, [b"1", b"2"], partition=1)
    records, cursor = fetch_all(settings, {})
    assert [r.value for r in records] == [b"1", b"2"]

    produce_events(settings, [b"3", b"4", b"5"], partition=1)
    produce_events(settings, [b"x"], partition=0)
    records, cursor = fetch_all(settings, cursor)
    assert values_by_partition(records) == {0: [b"x"], 1: [b"3", b"4", b"5"]}
    assert cursor == {0: 1, 1: 5, 2: 0}

    started = time.monotonic()
    records, same = fetch_all(settings, cursor, budget=5.0)
    assert records == [] and same == cursor
    assert time.monotonic() - started < 3.0, "a caught-up fetch must not wait for the whole budget"


def test_cursor_from_json_with_string_keys_and_unknown_partitions(settings):
    produce_events(settings, [b"a", b"b", b"c"], partition=0)
    cursor = json.loads(json.dumps({0: 2, 7: 99}))
    records, new_cursor = fetch_all(settings, cursor)
    assert [(r.partition, r.offset, r.value) for r in records] == [(0, 2, b"c")]
    assert new_cursor == {0: 3, 1: 0, 2: 0, 7: 99}


def test_max_records_caps_the_batch_and_never_skips_inside_producer_batches(settings):
    # linger_ms groups the records into multi-record batches, as real producers send them
    placed = services.produce(settings.bootstrap_servers, settings.topic,
                              [f"m{i}".encode() for i in range(10)], partition=2, linger_ms=50)
    assert [o for _, o in placed] == list(range(10))

    cursor: dict[int, int] = {}
    seen: list[bytes] = []
    for _ in range(10):
        records, cursor = fetch_all(settings, cursor, max_records=3)
        assert len(records) <= 3
        seen += [r.value for r in records]
        if not records:
            break
    assert seen == [f"m{i}".encode() for i in range(10)]
    assert cursor[2] == 10


def test_time_budget_bounds_the_batch_and_the_cursor_stays_exact(settings):
    produce_events(settings, [b"late"], partition=0)
    records, cursor = fetch_batch(settings, {}, max_records=100, time_budget_seconds=0)
    assert records == [] and cursor == {0: 0, 1: 0, 2: 0}  # positions resolved, nothing skipped

    services.produce(settings.bootstrap_servers, settings.topic, [b"x" * 1000] * 3000, partition=1, linger_ms=20)
    started = time.monotonic()
    records, cursor = fetch_batch(settings, {}, max_records=100_000, time_budget_seconds=0.02)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    got = [r.offset for r in records if r.partition == 1]
    assert 0 < len(got) < 3000, "3 MB do not fit one fetch: a 0.02 s budget allows one poll only"
    assert got == list(range(len(got))) and cursor[1] == len(got)

    rest, cursor = fetch_all(settings, cursor, max_records=100_000)
    offsets = got + [r.offset for r in rest if r.partition == 1]
    assert offsets == list(range(3000))
    assert cursor == {0: 1, 1: 3000, 2: 0}


def test_null_values_are_returned_as_none(settings):
    services.produce(settings.bootstrap_servers, settings.topic, [None, b"{}"], partition=0, key=b"k")
    records, _ = fetch_all(settings, {})
    assert [r.value for r in records] == [None, b"{}"]


def test_without_cursor_the_group_committed_offset_is_the_start(settings):
    produce_events(settings, [f"{i}".encode() for i in range(5)], partition=0)
    produce_events(settings, [b"q"], partition=1)
    commit_offsets(settings, {0: 3})

    records, cursor = fetch_all(settings, {})
    assert values_by_partition(records) == {0: [b"3", b"4"], 1: [b"q"]}  # p1: no commit -> earliest
    assert cursor == {0: 5, 1: 1, 2: 0}

    # the cursor wins over the committed offset
    records, _ = fetch_all(settings, {0: 1})
    assert values_by_partition(records)[0] == [b"1", b"2", b"3", b"4"]


def test_commit_offsets_is_visible_to_a_new_fetch_and_to_lag_monitoring(settings):
    produce_events(settings, [b"a", b"b", b"c"], partition=0)
    produce_events(settings, [b"d"], partition=2)
    records, cursor = fetch_all(settings, {})
    assert len(records) == 4

    commit_offsets(settings, cursor)
    assert committed_offsets(settings) == {0: 3, 1: 0, 2: 1}

    records, again = fetch_all(settings, {})
    assert records == [] and again == cursor

    other_group = KafkaSettings(settings.bootstrap_servers, settings.topic, group_id=settings.group_id + "-other")
    assert committed_offsets(other_group) == {}
    assert len(fetch_all(other_group, {})[0]) == 4


def test_start_from_latest_skips_the_backlog(settings):
    for value in (b"old1", b"old2"):  # one record per produce request: Tansu's end offset is right then
        produce_events(settings, [value], partition=0)
    latest = KafkaSettings(settings.bootstrap_servers, settings.topic, group_id=settings.group_id,
                           start_from="latest")
    records, cursor = fetch_all(latest, {})
    assert records == [] and cursor == {0: 2, 1: 0, 2: 0}
    produce_events(settings, [b"new"], partition=0)
    records, _ = fetch_all(latest, cursor)
    assert [r.value for r in records] == [b"new"]


def test_unknown_topic_raises_topic_not_found(kafka_broker):
    settings = KafkaSettings(kafka_broker.bootstrap_servers, "no-such-topic-here")
    with pytest.raises(KafkaTopicNotFound, match="no-such-topic-here"):
        fetch_all(settings, {})
    assert "no-such-topic-here" not in services_topics(kafka_broker)  # not auto-created


def services_topics(kafka_broker) -> set[str]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        return consumer.topics()
    finally:
        consumer.close()


def test_unreachable_broker_raises_quickly_and_leaks_no_threads():
    settings = KafkaSettings(f"127.0.0.1:{services.free_port()}", "t", request_timeout_ms=1500)
    threads_before = {t.ident for t in threading.enumerate()}
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable, match="cannot connect to Kafka"):
        fetch_all(settings, {})
    assert time.monotonic() - started < 5
    commit_offsets(settings, {0: 1})  # logged, not raised
    with pytest.raises(KafkaUnavailable):
        produce_events(settings, [b"x"])
    time.sleep(0.2)
    leaked = [t.name for t in threading.enumerate() if t.ident not in threads_before and t.name.startswith("kafka")]
    assert leaked == []


def test_settings_validate_and_map_to_kafka_python():
    sasl = KafkaSettings("b1:9093, b2:9093", "topic", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                         sasl_username="user", sasl_password="secret", ssl_cafile="/etc/ca.pem")
    config = sasl.consumer_config()
    assert config["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert config["sasl_plain_username"] == "user" and config["sasl_plain_password"] == "secret"
    assert config["ssl_cafile"] == "/etc/ca.pem" and config["group_id"] == "nohd_MSB"
    assert config["enable_auto_commit"] is False and config["allow_auto_create_topics"] is False
    assert "secret" not in repr(sasl)
    assert "secret" in str(sasl.producer_config())  # only in the dict handed to the client
    for bad in ({"start_from": "middle"}, {"security_protocol": "SASL_SSL"}, {"security_protocol": "TLS"},
                {"bootstrap_servers": " "}, {"request_timeout_ms": 10}):
        with pytest.raises(ValueError):
            KafkaSettings(**{"bootstrap_servers": "b:1", "topic": "t", **bad})
    with pytest.raises(ValueError):
        fetch_batch(KafkaSettings("b:1", "t"), {}, max_records=0, time_budget_seconds=1)


def test_an_unchanged_cursor_is_not_committed_again(settings, monkeypatch):
    """An idle sensor ticks every second with the same cursor: one commit, not one a tick."""
    from ocr_pipeline.adapters import kafka as kafka_source

    opened = []
    real_open = kafka_source._open_consumer
    monkeypatch.setattr(kafka_source, "_open_consumer", lambda s: opened.append(1) or real_open(s))
    produce_events(settings, [b"a", b"b"], partition=0)
    for _ in range(3):
        commit_offsets(settings, {0: 2})
    assert len(opened) == 1 and committed_offsets(settings)[0] == 2
    commit_offsets(settings, {0: 1})  # moved (a cursor reset by hand): committed
    assert len(opened) == 3 and committed_offsets(settings)[0] == 1  # committed_offsets opens one too
