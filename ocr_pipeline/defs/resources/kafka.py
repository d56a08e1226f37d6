"""Kafka as a Dagster resource: connection settings (SASL/SSL) for the request topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import dagster as dg
from pydantic import Field

from ocr_pipeline.adapters import config

if TYPE_CHECKING:
    from ocr_pipeline.adapters.kafka import KafkaSettings


class KafkaResource(dg.ConfigurableResource):
    """The topic the mobile app publishes requests to, and how to reach its brokers.

    The fields are ``adapters.kafka.KafkaSettings``'s (``config.KAFKA_FIELDS``: same names, defaults from
    ``ocr_pipeline.adapters.config``) plus ``results_topic``; ``test_defs`` checks that the two agree."""

    bootstrap_servers: str
    topic: str
    group_id: str = config.KAFKA_GROUP_ID.default
    security_protocol: str = config.KAFKA_SECURITY_PROTOCOL.default
    sasl_mechanism: Optional[str] = None
    sasl_username: Optional[str] = None
    sasl_password: Optional[str] = Field(default=None, repr=False)  # KAFKA_SASL_PASSWORD: never in repr
    ssl_cafile: Optional[str] = None
    start_from: str = config.KAFKA_START_FROM.default
    offset_reset: str = config.KAFKA_OFFSET_RESET.default
    request_timeout_ms: int = 10_000
    results_topic: Optional[str] = None  # KAFKA_RESULTS_TOPIC: result events; None = off
    dead_letter_topic: Optional[str] = None  # KAFKA_DEAD_LETTER_TOPIC; None = "<topic>-dead-letter"

    def settings(self) -> "KafkaSettings":
        """The plain-Python settings ``ocr_pipeline.adapters.kafka`` works with, validated (``ValueError``
        naming the variable: unknown protocol or mechanism, SASL without credentials, CA file missing)."""
        from ocr_pipeline.adapters.kafka import KafkaSettings

        settings = KafkaSettings(**self.model_dump(exclude={"results_topic"}))
        settings.check_files()
        return settings
