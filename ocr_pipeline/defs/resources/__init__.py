"""Resources of the code location, configured from environment variables (``ocr_pipeline.adapters.config``).

Connection settings and secrets that are set are passed as ``dg.EnvVar`` (resolved in the process that
uses them, shown by name, never by value, in the UI); unset ones fall back to the defaults of
``ocr_pipeline.adapters.config``, so the definitions load with no environment at all. Numbers are parsed here,
when the code location loads (a bad value fails the load with an error naming the variable).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource

from ocr_pipeline.adapters import config

from .kafka import KafkaResource
from .s3 import DocumentBucketResource
from .verdict_store import PostgresVerdictIOManager, VerdictStoreResource


def env(name: str) -> Any:
    """``dg.EnvVar(name)`` when the variable is set and not empty, else its default (maybe None)."""
    if config.variable(name).is_set():
        return dg.EnvVar(name)
    return config.variable(name).default


def build_resources() -> dict[str, Any]:
    """The resources the sensor and the verify_request job use."""
    verdict_store = VerdictStoreResource(database_url=env("DATABASE_URL"))
    s3 = S3Resource(
        endpoint_url=env("S3_ENDPOINT_URL"),
        region_name=env("AWS_REGION"),
        aws_access_key_id=env("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env("AWS_SECRET_ACCESS_KEY"),
    )
    return {
        "kafka": KafkaResource(
            bootstrap_servers=env("KAFKA_BOOTSTRAP_SERVERS"),
            topic=env("KAFKA_TOPIC"),
            group_id=env("KAFKA_GROUP_ID"),
            security_protocol=env("KAFKA_SECURITY_PROTOCOL"),
            sasl_mechanism=env("KAFKA_SASL_MECHANISM"),
            sasl_username=env("KAFKA_SASL_USERNAME"),
            sasl_password=env("KAFKA_SASL_PASSWORD"),
            ssl_cafile=env("KAFKA_SSL_CAFILE"),
            start_from=env("KAFKA_START_FROM"),
            offset_reset=env("KAFKA_OFFSET_RESET"),
            results_topic=env("KAFKA_RESULTS_TOPIC"),
            dead_letter_topic=env("KAFKA_DEAD_LETTER_TOPIC"),
        ),
        "documents": DocumentBucketResource(
            s3=s3, bucket=env("S3_BUCKET"), ca_bundle=env("S3_CA_BUNDLE"),
            connect_timeout=config.S3_CONNECT_TIMEOUT_SECONDS.get(),
            read_timeout=config.S3_READ_TIMEOUT_SECONDS.get(),
            download_attempts=config.S3_DOWNLOAD_ATTEMPTS.get(),
            outage_wait_seconds=config.S3_OUTAGE_WAIT_SECONDS.get(),
            preview_prefix=config.OCR_PREVIEW_PREFIX.get(),
        ),
        "verdict_store": verdict_store,
        "verdict_io_manager": PostgresVerdictIOManager(verdict_store=verdict_store),
    }


__all__ = [
    "DocumentBucketResource",
    "KafkaResource",
    "PostgresVerdictIOManager",
    "VerdictStoreResource",
    "build_resources",
]
