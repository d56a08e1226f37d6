"""The Kafka sensor: one run per valid request event, offsets in the sensor cursor.

Each tick: commit the incoming cursor to the consumer group (it was saved only after the previous tick
succeeded, so this is "commit after the tick", for lag monitoring), fetch a bounded batch from the
cursor's offsets, record every event in Postgres (``received`` or ``invalid``) and return one
``RunRequest`` per valid event with ``run_key = request_id``. If the tick fails, the cursor stays
where it was and the next tick replays the batch: recording is idempotent and the run_key makes
Dagster skip runs that already exist (at-least-once delivery, no duplicate runs).
"""


import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

import dagster as dg

from ..engine.iin import mask_iin
from ..jobs import VERIFY_REQUEST_JOB_NAME, verify_request_job
from ..resources.kafka import KafkaResource
from ..resources.verdict_store import VerdictStoreResource
from ..store import VerdictStore

log = logging.getLogger(__name__)


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


@dataclass(frozen=True)
class SensorLimits:
    """How much one tick may do (the sensor's gRPC call times out after 60 s)."""

    interval_seconds: int = 1
    max_events_per_tick: int = 50
    time_budget_seconds: float = 20.0
    max_queued_runs: int = 100

    @classmethod
    def from_env(cls) -> "SensorLimits":
        """OCR_SENSOR_INTERVAL_SECONDS, OCR_SENSOR_MAX_EVENTS_PER_TICK, OCR_SENSOR_TIME_BUDGET_SECONDS,
        OCR_SENSOR_MAX_QUEUED_RUNS (0 = no limit)."""
        return cls(
            interval_seconds=int(_env_number("OCR_SENSOR_INTERVAL_SECONDS", cls.interval_seconds)),
            max_events_per_tick=int(_env_number("OCR_SENSOR_MAX_EVENTS_PER_TICK", cls.max_events_per_tick)),
            time_budget_seconds=_env_number("OCR_SENSOR_TIME_BUDGET_SECONDS", cls.time_budget_seconds),
            max_queued_runs=int(_env_number("OCR_SENSOR_MAX_QUEUED_RUNS", cls.max_queued_runs)),
        )


def decode_cursor(cursor: Optional[str]) -> dict[int, int]:
    """``'{"0": 12}'`` -> ``{0: 12}`` (partition -> next offset to read)."""
    if not cursor:
        return {}
    return {int(partition): int(offset) for partition, offset in json.loads(cursor).items()}


def encode_cursor(offsets: dict[int, int]) -> str:
    """``{0: 12}`` -> ``'{"0": 12}'``, partitions in order."""
    return json.dumps({str(partition): offsets[partition] for partition in sorted(offsets)})


def run_request_for(event: Any) -> dg.RunRequest:
    """The run for one recorded event: run_key = request_id, only the request_id as run config (the run
    reads the event from its row: no IIN in the run config), masked IIN as a tag."""
    return dg.RunRequest(
        run_key=str(event.request_id),
        run_config={"ops": {"request_verdict": {"config": {"request_id": event.request_id}}}},
        tags={"request_id": str(event.request_id), "iin": mask_iin(event.iin)},
    )


def queued_runs(instance: Optional[dg.DagsterInstance]) -> int:
    """Runs of the verify job waiting in the run queue."""
    if instance is None:
        return 0
    return instance.get_runs_count(
        dg.RunsFilter(
            job_name=VERIFY_REQUEST_JOB_NAME,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED],
        )
    )


def poll_requests(
    settings: Any,
    store: VerdictStore,
    cursor: Optional[str],
    limits: SensorLimits,
    instance: Optional[dg.DagsterInstance] = None,
    logger: Any = log,
) -> "dg.SensorResult | dg.SkipReason":
    """One tick's work, without Dagster's sensor machinery (the sensor below is a thin wrapper).

    Raises ``KafkaUnavailable`` when the brokers cannot be reached: the tick fails and the cursor
    does not move.
    """
    from ..events import InvalidEvent, parse_event
    from ..kafka_source import commit_offsets, fetch_batch

    if limits.max_queued_runs > 0:
        waiting = queued_runs(instance)
        if waiting >= limits.max_queued_runs:
            return dg.SkipReason(
                f"{waiting} runs already queued (limit {limits.max_queued_runs}): leaving events in Kafka"
            )

    offsets = decode_cursor(cursor)
    commit_offsets(settings, offsets)  # for lag monitoring; logs failures, never raises

    records, next_offsets = fetch_batch(
        settings,
        offsets,
        max_records=limits.max_events_per_tick,
        time_budget_seconds=limits.time_budget_seconds,
    )

    run_requests: list[dg.RunRequest] = []
    requested: set[int] = set()
    invalid = 0
    for record in records:
        try:
            event = parse_event(record.value)
        except InvalidEvent as rejected:
            reason, request_id = rejected.reason, rejected.request_id
        except Exception as error:  # a parser bug must not stop the partition either
            reason, request_id = f"unexpected {type(error).__name__} while parsing the event", None
        else:
            refused = _record_received(store, event, record)
            if refused is not None:
                reason, request_id = refused, event.request_id
            elif event.request_id in requested:
                logger.info("request %s repeated at offset %s: one run", event.request_id, record.offset)
                continue
            else:
                requested.add(event.request_id)
                run_requests.append(run_request_for(event))
                continue
        invalid += 1
        store.record_invalid(
            topic=settings.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            request_id=request_id,
            raw=record.value,
        )
        logger.warning(
            "invalid event at %s[%s]@%s (request_id %s): %s",
            settings.topic, record.partition, record.offset, request_id, reason,
        )

    new_cursor = encode_cursor({**offsets, **next_offsets})
    if not records:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new events"), cursor=new_cursor)
    logger.info(
        "%d event(s): %d run request(s), %d invalid; cursor %s",
        len(records), len(run_requests), invalid, new_cursor,
    )
    return dg.SensorResult(run_requests=run_requests, cursor=new_cursor)


def _record_received(store: VerdictStore, event: Any, record: Any) -> Optional[str]:
    """Record a parsed event; the reason when Postgres refuses its values (it is then an invalid event,
    or the partition would stop on it). Connection failures raise: the tick fails and is replayed."""
    import sqlalchemy as sa

    try:
        store.record_received(event, record.partition, record.offset)
    except (sa.exc.DataError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as error:
        return f"the database refused the event's values ({type(error.orig).__name__})"
    return None


def _instance_of(context: dg.SensorEvaluationContext) -> Optional[dg.DagsterInstance]:
    try:
        return context.instance
    except dg.DagsterInvariantViolationError:  # a test context built without an instance
        return None


LIMITS = SensorLimits.from_env()


@dg.sensor(
    name="kafka_requests_sensor",
    target=verify_request_job,
    minimum_interval_seconds=LIMITS.interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads loan-deferral request events from Kafka; one verify_request run per request_id.",
)
def kafka_requests_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource, verdict_store: VerdictStoreResource
) -> "dg.SensorResult | dg.SkipReason":
    """Thin wrapper around ``poll_requests``."""
    return poll_requests(
        kafka.settings(),
        verdict_store.get_store(),
        context.cursor,
        SensorLimits.from_env(),
        instance=_instance_of(context),
        logger=context.log,
    )
