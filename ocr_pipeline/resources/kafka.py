"""Kafka as a Dagster resource: connection settings (SASL/SSL) for the request topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from ..kafka_source import KafkaSettings


class KafkaResource(dg.ConfigurableResource):
    """The topic the mobile app publishes requests to, and how to reach its brokers.

    The fields are ``kafka_source.KafkaSettings``'s (same names and defaults) plus ``results_topic``."""

    bootstrap_servers: str
    topic: str
    group_id: str = "nohd_MSB"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: Optional[str] = None
    sasl_username: Optional[str] = None
    sasl_password: Optional[str] = Field(default=None, repr=False)  # KAFKA_SASL_PASSWORD: never in repr
    ssl_cafile: Optional[str] = None
    start_from: str = "earliest"
    request_timeout_ms: int = 10_000
    results_topic: Optional[str] = None  # KAFKA_RESULTS_TOPIC: result events; None = off

    def settings(self) -> "KafkaSettings":
        """The plain-Python settings ``ocr_pipeline.kafka_source`` works with, validated (``ValueError``
        naming the variable: unknown protocol or mechanism, SASL without credentials, CA file missing)."""
        from ..kafka_source import KafkaSettings

        settings = KafkaSettings(**self.model_dump(exclude={"results_topic"}))
        settings.check_files()
        return settings
