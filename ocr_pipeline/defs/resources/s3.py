"""The document bucket: dagster-aws's ``S3Resource`` (endpoint, region, credentials) plus the bucket,
the CA bundle of an internal S3, timeouts and download retries."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import astuple
from typing import TYPE_CHECKING, Any, Optional

import dagster as dg
from dagster_aws.s3 import S3Resource

from ocr_pipeline.adapters import config

if TYPE_CHECKING:
    from ocr_pipeline.adapters.s3 import DownloadedObject


log = logging.getLogger(__name__)

# One boto3 client per configuration and process: making one costs ~0.1 s of CPU (a session loads its
# service model), as much as downloading a typical document. boto3 clients are thread-safe.
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


class DocumentBucketResource(dg.ConfigurableResource):
    """Where request documents live: ``s3`` says how to connect, ``bucket`` which bucket.

    ``S3Resource.verify`` is only a boolean, so a private CA bundle is configured here (``ca_bundle``).
    """

    s3: S3Resource
    bucket: str
    ca_bundle: Optional[str] = None
    connect_timeout: float = config.S3_CONNECT_TIMEOUT_SECONDS.default
    read_timeout: float = config.S3_READ_TIMEOUT_SECONDS.default
    download_attempts: int = config.S3_DOWNLOAD_ATTEMPTS.default
    outage_wait_seconds: float = config.S3_OUTAGE_WAIT_SECONDS.default  # S3_OUTAGE_WAIT_SECONDS
    preview_prefix: str = config.OCR_PREVIEW_PREFIX.default  # OCR_PREVIEW_PREFIX: where evidence previews go; "" = none

    def upload_preview(self, key: str, data: bytes) -> str:
        """Store a preview JPEG in the document bucket; returns its ``s3://`` address."""
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="image/jpeg")
        return f"s3://{self.bucket}/{key}"

    def client(self) -> Any:
        """A boto3 S3 client (``adapters.s3.make_s3_client``): the ``s3`` resource's endpoint, region and
        credentials (else boto3's usual chain: environment, instance role), this resource's CA bundle
        and timeouts. botocore's own retries are off: ``download_object`` retries with backoff.
        Made once per configuration and process, then reused."""
        from ocr_pipeline.adapters.s3 import S3Settings, make_s3_client

        settings = S3Settings(
            endpoint_url=self.s3.endpoint_url or None,
            bucket=self.bucket,
            region=self.s3.region_name or config.AWS_REGION.default,
            ca_bundle=self.ca_bundle,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            use_ssl=self.s3.use_ssl,
            verify_tls=self.s3.verify is not False,
        )
        credentials = {
            "aws_access_key_id": self.s3.aws_access_key_id or None,
            "aws_secret_access_key": self.s3.aws_secret_access_key or None,
            "aws_session_token": self.s3.aws_session_token or None,
            "profile_name": self.s3.profile_name or None,
        }
        key = (astuple(settings), tuple(sorted(credentials.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = make_s3_client(settings, credentials)
        return client

    def download(self, key: str, *, max_bytes: int) -> "DownloadedObject":
        """Download one object with retries; raises ``DocumentError`` or ``S3DownloadError``.

        While S3 is unavailable (every attempt of a ``download_object`` failed transiently) the run
        waits for it, trying again with backoff for up to ``outage_wait_seconds``, instead of failing
        and waiting for an analyst; each outcome feeds the shared S3 circuit breaker."""
        from ocr_pipeline.adapters.s3 import S3DownloadError, download_object

        breaker = _breaker()
        deadline = time.monotonic() + self.outage_wait_seconds
        pause = 1.0
        while True:
            try:
                result = download_object(
                    self.client(), self.bucket, key, max_bytes=max_bytes, attempts=self.download_attempts
                )
            except S3DownloadError as error:
                if not error.transient:
                    raise
                if breaker is not None:
                    breaker.record_failure()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                pause = min(pause * 2, 15.0, left)
                log.warning("S3 unavailable (%s); waiting %.0f s more at most, next try in %.1f s",
                            error, left, pause)
                time.sleep(pause)
                continue
            if breaker is not None:
                breaker.record_success()
            return result


_breakers: dict[str, Any] = {}


def _breaker() -> Any:
    """The process's S3 circuit breaker (``adapters.s3_breaker``), None when switched off."""
    from ocr_pipeline.adapters.s3_breaker import S3Breaker

    key = f"{config.DATABASE_URL.get()}|{config.S3_BREAKER_FAILURES.get()}"
    with _clients_lock:
        if key not in _breakers:
            _breakers[key] = S3Breaker.from_env()
        return _breakers[key]
