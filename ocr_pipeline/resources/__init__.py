"""Resources of the code location, configured from environment variables (see the README, Configuration).

Variables that are set are passed as ``dg.EnvVar`` (resolved in the process that uses them, shown by
name, never by value, in the UI); unset ones fall back to the defaults below, so the definitions load
with no environment at all.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import dagster as dg
from dagster_aws.s3 import S3Resource

from .kafka import KafkaResource
from .s3 import DocumentBucketResource
from .verdict_store import PostgresVerdictIOManager, VerdictStoreResource

DEFAULTS: dict[str, Optional[str]] = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "KAFKA_TOPIC": "dl-loan-delay-requests",
    "KAFKA_GROUP_ID": "nohd_MSB",
    "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    "KAFKA_SASL_MECHANISM": None,
    "KAFKA_SASL_USERNAME": None,
    "KAFKA_SASL_PASSWORD": None,
    "KAFKA_SSL_CAFILE": None,
    "KAFKA_START_FROM": "earliest",
    "KAFKA_RESULTS_TOPIC": None,
    "S3_ENDPOINT_URL": None,
    "S3_BUCKET": "loan-documents",
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_REGION": "us-east-1",
    "S3_CA_BUNDLE": None,
    "DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/ocr_pipeline",
    "OCR_PREVIEW_PREFIX": "_previews/",
}


def env(name: str) -> Any:
    """``dg.EnvVar(name)`` when the variable is set and not empty, else its default (maybe None)."""
    if os.environ.get(name, "").strip():
        return dg.EnvVar(name)
    return DEFAULTS[name]


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
            results_topic=env("KAFKA_RESULTS_TOPIC"),
        ),
        "documents": DocumentBucketResource(
            s3=s3, bucket=env("S3_BUCKET"), ca_bundle=env("S3_CA_BUNDLE"),
            connect_timeout=float(os.environ.get("S3_CONNECT_TIMEOUT_SECONDS") or 5),
            read_timeout=float(os.environ.get("S3_READ_TIMEOUT_SECONDS") or 60),
            download_attempts=int(os.environ.get("S3_DOWNLOAD_ATTEMPTS") or 4),
            preview_prefix=os.environ.get("OCR_PREVIEW_PREFIX", DEFAULTS["OCR_PREVIEW_PREFIX"]),
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
