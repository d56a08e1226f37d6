"""Publishes result events of requests that reached a terminal status (see ``ocr_pipeline.adapters.results``)."""

import dagster as dg

from ..names import RESULT_EVENTS_SENSOR
from ..resources.kafka import KafkaResource
from ..resources.verdict_store import VerdictStoreResource


@dg.sensor(
    name=RESULT_EVENTS_SENSOR,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends a result event per finished request to KAFKA_RESULTS_TOPIC (off when unset).",
)
def result_events_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource, verdict_store: VerdictStoreResource
) -> dg.SkipReason:
    """Thin wrapper around ``publish_results``; starts no runs."""
    from ocr_pipeline.adapters.results import publish_results

    if not kafka.results_topic:
        return dg.SkipReason("KAFKA_RESULTS_TOPIC is not set: result events are off")
    sent = publish_results(kafka.settings(), kafka.results_topic, verdict_store.get_store())
    return dg.SkipReason(f"{sent} result event(s) published")
