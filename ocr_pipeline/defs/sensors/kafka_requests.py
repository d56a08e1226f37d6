"""The Kafka sensor: one run per valid request event, offsets in the sensor cursor.

Each tick: commit the incoming cursor to the consumer group (it was saved only after the previous tick
succeeded, so this is "commit after the tick", for lag monitoring), fetch a bounded batch from the
cursor's offsets, record every event in Postgres (``received`` or ``invalid``) and return one
``RunRequest`` per valid event with ``run_key = request_id``. If the tick fails, the cursor stays
where it was and the next tick replays the batch: recording is idempotent and the run_key makes
Dagster skip runs that already exist (at-least-once delivery, no duplicate runs). While the S3 circuit
breaker is open (``adapters.s3_breaker``) a tick creates no runs and says why; the events wait in Kafka.

No single event may stop a partition: one that cannot be recorded as ``received`` (whatever the error,
except the database being unreachable) is recorded as invalid with the reason. If even that fails,
the partition waits at the event for the next tick (the attempts are counted in the cursor) and after
``OCR_SENSOR_RECORD_ATTEMPTS`` ticks the event goes to the dead-letter topic and the partition moves on.

A request_id seen again with the same content is one run (the sensor claims the row's run submission,
``VerdictStore.claim_submission``: a request ``/v1/kafka-verify`` recorded and submits gets no run
from here); with other content it is a conflict: an
invalid event ``conflicting_duplicate`` (with the new event's raw value), no run, the existing row (maybe
a verdict, an upload of ``/v1/verify``, a backfill) untouched. A cursor out of range (topic recreated or
truncated) restarts at ``KAFKA_OFFSET_RESET`` and is recorded (``adapters.kafka.fetch_batch``,
:func:`topic_label`).
"""


import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import dagster as dg

from ocr_pipeline.adapters import config, telemetry
from ocr_pipeline.adapters.store import SUBMITTED_BY_SENSOR, VerdictStore
from ocr_pipeline.engine.iin import mask_iin

from ..jobs import verify_request_job
from ..names import KAFKA_REQUESTS_SENSOR, VERIFY_REQUEST_JOB
from ..resources.kafka import KafkaResource
from ..resources.s3 import DocumentBucketResource
from ..resources.verdict_store import VerdictStoreResource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SensorLimits:
    """How much one tick may do (the sensor's gRPC call times out after 60 s)."""

    interval_seconds: int = config.OCR_SENSOR_INTERVAL_SECONDS.default
    max_events_per_tick: int = config.OCR_SENSOR_MAX_EVENTS_PER_TICK.default
    time_budget_seconds: float = config.OCR_SENSOR_TIME_BUDGET_SECONDS.default
    max_queued_runs: int = config.OCR_SENSOR_MAX_QUEUED_RUNS.default
    record_attempts: int = config.OCR_SENSOR_RECORD_ATTEMPTS.default  # ticks an unrecordable event is tried

    @classmethod
    def from_env(cls) -> "SensorLimits":
        """OCR_SENSOR_INTERVAL_SECONDS, OCR_SENSOR_MAX_EVENTS_PER_TICK, OCR_SENSOR_TIME_BUDGET_SECONDS,
        OCR_SENSOR_MAX_QUEUED_RUNS (0 = no limit), OCR_SENSOR_RECORD_ATTEMPTS."""
        return cls(
            interval_seconds=config.OCR_SENSOR_INTERVAL_SECONDS.get(),
            max_events_per_tick=config.OCR_SENSOR_MAX_EVENTS_PER_TICK.get(),
            time_budget_seconds=config.OCR_SENSOR_TIME_BUDGET_SECONDS.get(),
            max_queued_runs=config.OCR_SENSOR_MAX_QUEUED_RUNS.get(),
            record_attempts=config.OCR_SENSOR_RECORD_ATTEMPTS.get(),
        )


_FAILURES_KEY = "failures"
_GENERATION_KEY = "generation"
RESET_MARKER_OFFSET = -1  # kafka_offset of the ocr_invalid_events row that records an offset reset
_EVENTS_KEY = "events"


def decode_cursor(cursor: Optional[str]) -> dict[int, int]:
    """``'{"0": 12}'`` -> ``{0: 12}`` (partition -> next offset to read)."""
    if not cursor:
        return {}
    return {int(key): int(value) for key, value in json.loads(cursor).items()
            if key not in (_FAILURES_KEY, _GENERATION_KEY, _EVENTS_KEY)}


def decode_generation(cursor: Optional[str]) -> int:
    """How many times the topic's offsets were reset under the sensor (1: never; see :func:`topic_label`)."""
    return int(json.loads(cursor).get(_GENERATION_KEY) or 1) if cursor else 1


def topic_label(topic: str, generation: int) -> str:
    """The topic as ``ocr_invalid_events`` names it: ``topic``, then ``topic#2``, ``topic#3``... after
    each offset reset, so the events of a recreated topic, whose offsets start again at 0, are recorded
    next to (not instead of) the old ones with the same offsets."""
    return topic if generation <= 1 else f"{topic}#{generation}"


def decode_event_counts(cursor: Optional[str]) -> Counter:
    """Events read since the sensor started, by outcome (``run_requested``, ``invalid``, ``repeated``,
    ``submitted_elsewhere``, ``dead_lettered``). Kept in the cursor, not in the process: the daemon
    replaces its code server every minute, and a cursor is saved only with its tick, so a replayed tick
    is not counted twice."""
    if not cursor:
        return Counter()
    return Counter({str(k): int(v) for k, v in (json.loads(cursor).get(_EVENTS_KEY) or {}).items()})


def decode_failures(cursor: Optional[str]) -> dict[int, tuple[int, int]]:
    """Events that could not be recorded at all: partition -> (offset, ticks that tried it)."""
    if not cursor:
        return {}
    failures = json.loads(cursor).get(_FAILURES_KEY) or {}
    return {int(partition): (int(offset), int(attempts)) for partition, (offset, attempts) in failures.items()}


def encode_cursor(offsets: dict[int, int], failures: Optional[dict[int, tuple[int, int]]] = None,
                  generation: int = 1, event_counts: Optional[Mapping[str, int]] = None) -> str:
    """``{0: 12}`` -> ``'{"0": 12}'``, partitions in order; ``failures`` (see :func:`decode_failures`)
    under ``"failures"`` and ``event_counts`` (see :func:`decode_event_counts`) under ``"events"`` when
    there are any, the generation (:func:`decode_generation`) when above 1."""
    data: dict[str, Any] = {str(partition): offsets[partition] for partition in sorted(offsets)}
    if failures:
        data[_FAILURES_KEY] = {str(p): [offset, attempts] for p, (offset, attempts) in sorted(failures.items())}
    if generation > 1:
        data[_GENERATION_KEY] = generation
    if event_counts:
        data[_EVENTS_KEY] = dict(sorted(event_counts.items()))
    return json.dumps(data)


def run_request_for(event: Any, traceparent: Optional[str] = None) -> dg.RunRequest:
    """The run for one recorded event: run_key = request_id, only the request_id as run config (the run
    reads the event from its row: no IIN in the run config), masked IIN as a tag; ``traceparent`` (the
    event's trace context) as a tag too, so the run's spans continue the event's trace."""
    tags = {"request_id": str(event.request_id), "iin": mask_iin(event.iin)}
    if traceparent:
        tags[telemetry.TRACEPARENT_TAG] = traceparent
    return dg.RunRequest(
        run_key=str(event.request_id),
        run_config={"ops": {"request_verdict": {"config": {"request_id": event.request_id}}}},
        tags=tags,
    )


def queued_runs(instance: Optional[dg.DagsterInstance]) -> int:
    """Runs of the verify job waiting in the run queue."""
    if instance is None:
        return 0
    count = instance.get_runs_count(
        dg.RunsFilter(
            job_name=VERIFY_REQUEST_JOB,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED],
        )
    )
    telemetry.runs_queued(count)
    return count


def poll_requests(
    settings: Any,
    store: VerdictStore,
    cursor: Optional[str],
    limits: SensorLimits,
    instance: Optional[dg.DagsterInstance] = None,
    logger: Any = log,
    s3_gate: Optional[Callable[[], Optional[str]]] = None,
) -> "dg.SensorResult | dg.SkipReason":
    """One tick's work, without Dagster's sensor machinery (the sensor below is a thin wrapper).

    Raises ``KafkaUnavailable`` when the brokers cannot be reached: the tick fails and the cursor
    does not move.
    """
    from ocr_pipeline.adapters.kafka import commit_offsets, fetch_batch

    counts = decode_event_counts(cursor)
    telemetry.kafka_events(counts)  # this process may be new: serve the totals at once
    closed_because = _closed(limits, instance, s3_gate)
    if closed_because:
        return dg.SkipReason(closed_because)

    offsets = decode_cursor(cursor)
    commit_offsets(settings, offsets)  # for lag monitoring; logs failures, never raises
    resets: list[Any] = []
    records, next_offsets = fetch_batch(
        settings,
        offsets,
        max_records=limits.max_events_per_tick,
        time_budget_seconds=limits.time_budget_seconds,
        on_offset_reset=resets.append,
    )
    generation = decode_generation(cursor) + (1 if resets else 0)
    tick = _Tick(settings, store, limits, logger, counts, decode_failures(cursor),
                 topic_label(settings.topic, generation))
    tick.record_resets(resets)
    for record in records:
        tick.take(record)

    new_cursor = encode_cursor({**offsets, **next_offsets, **tick.waiting_at}, tick.new_failures, generation, counts)
    telemetry.kafka_events(counts)
    if not records:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new events"), cursor=new_cursor)
    logger.info(
        "%d event(s): %d run request(s), %d invalid; cursor %s",
        len(records), len(tick.run_requests), tick.invalid, new_cursor,
    )
    return dg.SensorResult(run_requests=tick.run_requests, cursor=new_cursor)


def _closed(limits: SensorLimits, instance: Optional[dg.DagsterInstance],
            s3_gate: Optional[Callable[[], Optional[str]]]) -> Optional[str]:
    """Why this tick reads nothing: the run queue is full (back-pressure), or the S3 circuit breaker is
    open (no runs while S3 keeps failing); None when it reads."""
    if limits.max_queued_runs > 0:
        waiting = queued_runs(instance)
        if waiting >= limits.max_queued_runs:
            return f"{waiting} runs already queued (limit {limits.max_queued_runs}): leaving events in Kafka"
    return s3_gate() if s3_gate is not None else None


class _Tick:
    """The records of one tick: each becomes a run request, a repeat, another's submission, an invalid
    event, or (recorded in no way) waits for the next tick and at last goes to the dead-letter topic."""

    def __init__(self, settings: Any, store: VerdictStore, limits: SensorLimits, logger: Any, counts: Counter,
                 failures: dict[int, tuple[int, int]], topic: str):
        self.settings = settings
        self.store = store
        self.limits = limits
        self.logger = logger
        self.counts = counts
        self.failures = failures  # partition -> (offset, attempts) of an event not recorded in earlier ticks
        self.topic = topic  # the topic's label in ocr_invalid_events (``topic#2`` after a recreation)
        self.run_requests: list[dg.RunRequest] = []
        self.requested: set[int] = set()
        self.invalid = 0
        self.waiting_at: dict[int, int] = {}  # partition -> offset of an event recorded in no way
        self.new_failures: dict[int, tuple[int, int]] = {}

    def record_resets(self, resets: list[Any]) -> None:
        """Offsets that went backwards (topic recreated or truncated, cursor behind retention): loud."""
        for reset in resets:
            reason = reset.describe(self.settings.topic, self.settings.offset_reset)
            if reset.recreated:
                reason += f"; its events are recorded as topic {self.topic!r} from here on"
            self.logger.error("%s", reason)
            self.store.record_invalid(topic=self.topic, partition=reset.partition, offset=RESET_MARKER_OFFSET,
                                      reason=reason)
            self.failures.pop(reset.partition, None)

    def take(self, record: Any) -> None:
        """One record: a run request for a new valid event, else what the class docstring says."""
        from ocr_pipeline.flows.events import InvalidEvent, parse_event

        if record.partition in self.waiting_at:
            return
        try:
            event = parse_event(record.value)
        except InvalidEvent as rejected:
            self._invalid(record, rejected.reason, rejected.request_id)
            return
        except Exception as error:  # a parser bug must not stop the partition either
            self._invalid(record, f"unexpected {type(error).__name__} while parsing the event", None)
            return
        with telemetry.span("kafka_requests_sensor event", telemetry.traceparent_header(record.headers),
                            request_id=event.request_id, partition=record.partition, offset=record.offset):
            refused, holder = _record_received(self.store, event, record)  # the span: recording the event
            traceparent = telemetry.current_traceparent()
        if refused is not None:
            self._invalid(record, refused, event.request_id)
        elif holder is not None:
            self.logger.info("request %s at offset %s: its run was submitted by %s, not by this sensor",
                             event.request_id, record.offset, holder)
            self.counts["submitted_elsewhere"] += 1
        elif event.request_id in self.requested:
            self.logger.info("request %s repeated at offset %s: one run", event.request_id, record.offset)
            self.counts["repeated"] += 1
        else:
            self.requested.add(event.request_id)
            self.run_requests.append(run_request_for(event, traceparent))
            self.counts["run_requested"] += 1

    def _invalid(self, record: Any, reason: str, request_id: Optional[int]) -> None:
        from ocr_pipeline.adapters.kafka import dead_letter, dead_letter_topic

        self.invalid += 1
        where = f"{self.settings.topic}[{record.partition}]@{record.offset}"
        failure = _record_invalid(self.store, self.topic, record, reason, request_id)
        if failure is None:
            self.logger.warning("invalid event at %s (request_id %s): %s", where, request_id, reason)
            self.counts["invalid"] += 1
            return
        offset, attempts = self.failures.get(record.partition, (None, 0))
        attempts = attempts + 1 if offset == record.offset else 1
        if attempts < self.limits.record_attempts:
            self.logger.error(
                "event at %s (request_id %s) could not be recorded as invalid either (%s; it was: %s): "
                "attempt %d of %d, the partition waits at it until the next tick",
                where, request_id, failure, reason, attempts, self.limits.record_attempts,
            )
            self.waiting_at[record.partition] = record.offset
            self.new_failures[record.partition] = (record.offset, attempts)
            return
        placed = dead_letter(self.settings, record, f"{reason}; recording it as invalid failed: {failure}")
        self.counts["dead_lettered"] += 1
        self.logger.error(
            "event at %s (request_id %s) could not be recorded in %d attempts (%s; it was: %s): "
            "moved to dead-letter topic %s[%s]@%s",
            where, request_id, attempts, failure, reason, dead_letter_topic(self.settings), *placed,
        )


def _unreachable(error: BaseException) -> bool:
    """The database could not be reached (the tick fails and is replayed), rather than refusing this event."""
    import sqlalchemy as sa

    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError,
                              sa.exc.DisconnectionError))


def _error_name(error: BaseException) -> str:
    """The error's kind, never its message (SQLAlchemy's carries the statement's parameters: IIN, names)."""
    orig = getattr(error, "orig", None)
    return f"{type(error).__name__}: {type(orig).__name__}" if orig is not None else type(error).__name__


def conflicting_duplicate(row: Optional[dict[str, Any]], event: Any) -> Optional[str]:
    """The reason to refuse ``event`` when its request_id already has a row with other content (None
    for an identical duplicate: a replay, skipped as one run). The row is never overwritten: it may
    hold a verdict, or come from ``/v1/verify`` or a backfill; the reason names the differing fields,
    never their values (the event's raw value is kept with the invalid event)."""
    if row is None:
        return None
    differing = [name for name, value in event.contract_fields().items()
                 if name != "request_id" and (row.get(name) or "") != (value or "")]
    if not differing:
        return None
    return (f"conflicting_duplicate: request {event.request_id} is already recorded (status {row['status']}) "
            f"with another {', '.join(differing)}; this event was not applied")


def _record_received(store: VerdictStore, event: Any, record: Any) -> tuple[Optional[str], Optional[str]]:
    """Record a parsed event and claim its run submission for this sensor: ``(refusal, holder)``.

    ``refusal`` is the reason when the event cannot be recorded (it is then an invalid event, or the
    partition would stop on it), or when its request_id is recorded with other content
    (:func:`conflicting_duplicate`). ``holder`` is who else holds the submission claim
    (``VerdictStore.claim_submission``: ``/v1/kafka-verify`` recorded the request and submits its run):
    then no run is requested. Connection failures raise: the tick fails and is replayed."""
    import sqlalchemy as sa

    try:
        if not store.record_received(event, record.partition, record.offset, submitted_by=SUBMITTED_BY_SENSOR):
            conflict = conflicting_duplicate(store.get(event.request_id), event)
            if conflict is not None:
                return conflict, None
            return None, store.claim_submission(event.request_id, SUBMITTED_BY_SENSOR)
    except (sa.exc.DataError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as error:
        return f"the database refused the event's values ({type(error.orig).__name__})", None
    except Exception as error:  # RecursionError, MemoryError's cousins, a trigger's exception, a bug
        if _unreachable(error):
            raise
        return f"the event could not be recorded ({_error_name(error)})", None
    return None, None


def _record_invalid(store: VerdictStore, topic: str, record: Any, reason: str,
                    request_id: Optional[int]) -> Optional[str]:
    """Record a rejected event; None when done, else what went wrong (connection failures raise)."""
    try:
        store.record_invalid(topic=topic, partition=record.partition, offset=record.offset, reason=reason,
                             request_id=request_id, raw=record.value)
    except Exception as error:
        if _unreachable(error):
            raise
        return _error_name(error)
    return None


def _instance_of(context: dg.SensorEvaluationContext) -> Optional[dg.DagsterInstance]:
    try:
        return context.instance
    except dg.DagsterInvariantViolationError:  # a test context built without an instance
        return None


LIMITS = SensorLimits.from_env()


@dg.sensor(
    name=KAFKA_REQUESTS_SENSOR,
    target=verify_request_job,
    minimum_interval_seconds=LIMITS.interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads loan-deferral request events from Kafka; one verify_request run per request_id.",
)
def kafka_requests_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource, verdict_store: VerdictStoreResource,
    documents: DocumentBucketResource,
) -> "dg.SensorResult | dg.SkipReason":
    """Thin wrapper around ``poll_requests``; the S3 circuit breaker (``adapters.s3_breaker``) gates it;
    serves the sensor's metrics from this process."""
    from ocr_pipeline.adapters.s3_breaker import S3Breaker

    telemetry.serve_metrics(telemetry.sensor_metrics_port(), "sensor")
    breaker = S3Breaker.from_env(verdict_store.database_url)
    return poll_requests(
        kafka.settings(),
        verdict_store.get_store(),
        context.cursor,
        SensorLimits.from_env(),
        instance=_instance_of(context),
        logger=context.log,
        s3_gate=(lambda: breaker.gate(documents.client(), documents.bucket)) if breaker else None,
    )
