"""The document bucket: dagster-aws's ``S3Resource`` (endpoint, region, credentials) plus the bucket,
the CA bundle of an internal S3, timeouts and download retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import dagster as dg
from dagster_aws.s3 import S3Resource

if TYPE_CHECKING:
    from ..s3_download import DownloadedObject


class DocumentBucketResource(dg.ConfigurableResource):
    """Where request documents live: ``s3`` says how to connect, ``bucket`` which bucket.

    ``S3Resource.verify`` is only a boolean, so a private CA bundle is configured here (``ca_bundle``).
    """

    s3: S3Resource
    bucket: str
    ca_bundle: Optional[str] = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    download_attempts: int = 4
    preview_prefix: str = "_previews/"  # OCR_PREVIEW_PREFIX: where evidence previews go; "" = none

    def upload_preview(self, key: str, data: bytes) -> str:
        """Store a preview JPEG in the document bucket; returns its ``s3://`` address."""
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="image/jpeg")
        return f"s3://{self.bucket}/{key}"

    def client(self) -> Any:
        """A boto3 S3 client: the ``s3`` resource's endpoint, region and credentials (else boto3's usual
        chain: environment, instance role), this resource's CA bundle and timeouts.

        botocore's own retries are off: ``download_object`` retries with backoff and counts attempts
        (the same client settings as ``s3_download.make_s3_client``, which reads credentials from the
        environment only).
        """
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=self.s3.aws_access_key_id or None,
            aws_secret_access_key=self.s3.aws_secret_access_key or None,
            aws_session_token=self.s3.aws_session_token or None,
            region_name=self.s3.region_name or "us-east-1",
            profile_name=self.s3.profile_name or None,
        )
        config = Config(
            signature_version="s3v4",
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path" if self.s3.endpoint_url else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        verify: Any = self.ca_bundle or (False if self.s3.verify is False else None)
        return session.client(
            "s3", endpoint_url=self.s3.endpoint_url or None, use_ssl=self.s3.use_ssl, verify=verify, config=config
        )

    def download(self, key: str, *, max_bytes: int) -> "DownloadedObject":
        """Download one object with retries; raises ``DocumentError`` or ``S3DownloadError``."""
        from ..s3_download import download_object

        return download_object(
            self.client(), self.bucket, key, max_bytes=max_bytes, attempts=self.download_attempts
        )
