"""Downloading a request's document from S3 (MinIO, the bank's S3, moto_server in tests).

``download_object`` is the one place that talks to S3 for a document: HEAD for existence and size,
then a GET pinned to the HEAD's ETag (``If-Match``) streamed into memory with a size cap, the body
checked against its MD5 when the ETag is one. Transient failures are retried here with exponential
backoff and full jitter; botocore's own retries are switched off in :func:`make_s3_client`
(``total_max_attempts=1``), so ``attempts`` counts real requests. No temporary files are written.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from ocr_pipeline.adapters import config
from ocr_pipeline.engine.models import DocumentError, ErrorCode

from . import telemetry

log = logging.getLogger(__name__)

_PLAIN_MD5_ETAG = re.compile(r"[0-9a-f]{32}")
_TRANSIENT_CODES = frozenset({
    "InternalError", "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException",
    "RequestTimeout", "RequestLimitExceeded", "TooManyRequestsException", "BandwidthLimitExceeded",
    "PreconditionFailed", "OperationAborted", "RequestTimeoutException",
})
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchVersion"})


class S3DownloadError(RuntimeError):
    """S3 could not deliver the object: retries exhausted, or a non-transient error (access denied,
    no such bucket). ``attempts`` requests were made; ``transient`` tells which case it was."""

    def __init__(self, message: str, *, bucket: str, key: str, attempts: int, transient: bool):
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.attempts = attempts
        self.transient = transient


class S3ConfigurationError(ValueError):
    """The S3 settings or credentials are unusable."""


@dataclass
class S3Settings:
    """Where the documents are and how to connect; credentials are not settings (see :func:`make_s3_client`)."""

    endpoint_url: Optional[str]
    bucket: str
    region: str = config.AWS_REGION.default
    ca_bundle: Optional[str] = None
    connect_timeout: float = config.S3_CONNECT_TIMEOUT_SECONDS.default
    read_timeout: float = config.S3_READ_TIMEOUT_SECONDS.default
    use_ssl: bool = True
    verify_tls: bool = True  # False: no certificate check (ignored when ca_bundle is set)


@dataclass
class DownloadedObject:
    """An object's bytes and what S3 said about it; ``attempts`` is how many tries it took."""

    data: bytes
    etag: Optional[str]
    size: int
    content_type: Optional[str]
    metadata: dict[str, str] = field(default_factory=dict)
    attempts: int = 1


class _TransientFailure(Exception):
    """An attempt failed in a way worth retrying."""


def make_s3_client(settings: S3Settings, credentials: Optional[Mapping[str, Optional[str]]] = None):
    """A boto3 S3 client for ``settings``: SigV4, path-style addressing for a custom endpoint (MinIO),
    botocore retries off, checksums only where S3 requires them (third-party S3 compatibility).

    ``credentials``: explicit ``boto3.session.Session`` arguments (``aws_access_key_id``,
    ``aws_secret_access_key``, ``aws_session_token``, ``profile_name``; None values leave boto3's usual
    chain). Without them the keys come from the environment only, and :class:`S3ConfigurationError`
    is raised when the credential variables are not set.
    """
    import boto3
    from botocore.config import Config

    if credentials is None:
        access_key = config.AWS_ACCESS_KEY_ID.get()
        secret_key = config.AWS_SECRET_ACCESS_KEY.get()
        if not access_key or not secret_key:
            raise S3ConfigurationError("S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key,
                       "aws_session_token": config.AWS_SESSION_TOKEN.get()}
    verify = tls_verification(settings)
    session = boto3.session.Session(**credentials, region_name=settings.region)
    client_config = Config(
        signature_version="s3v4",
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=settings.endpoint_url or None, use_ssl=settings.use_ssl,
                          verify=verify, config=client_config)


def tls_verification(settings: S3Settings) -> Any:
    """boto3's ``verify=``: the CA bundle (``S3_CA_BUNDLE``, else ``AWS_CA_BUNDLE``) as a path, False
    when ``verify_tls`` is off and no bundle is set, else None (the system's CAs).

    Raises :class:`S3ConfigurationError` naming the variable when the bundle is not a readable file
    holding a PEM certificate (botocore would fail on the first request with a less telling error).
    """
    if settings.ca_bundle:
        variable, path = "S3_CA_BUNDLE", settings.ca_bundle
    elif settings.verify_tls and config.AWS_CA_BUNDLE.is_set():
        variable, path = "AWS_CA_BUNDLE", config.AWS_CA_BUNDLE.get()
    else:
        return None if settings.verify_tls else False
    from .tls import pem_file_problem

    problem = pem_file_problem(path)
    if problem:
        raise S3ConfigurationError(f"{variable}: the CA bundle {path!r} {problem}")
    return path


def download_object(client, bucket: str, key: str, *, max_bytes: int,
                    attempts: int = config.S3_DOWNLOAD_ATTEMPTS.default,
                    base_delay: float = 0.5, max_delay: float = 8.0, chunk_size: int = 1024 * 1024,
                    sleep: Callable[[float], None] = time.sleep) -> DownloadedObject:
    """Download ``s3://bucket/key`` into memory.

    - Missing object: ``DocumentError(S3_OBJECT_NOT_FOUND)`` at once, no retries (a missing *bucket*
      is a configuration error: :class:`S3DownloadError`).
    - Larger than ``max_bytes`` (by HEAD, or while streaming; never more than ``max_bytes + 1`` bytes
      are read): ``DocumentError(FILE_TOO_LARGE)``.
    - Transient failures (HTTP 5xx/429, throttling, timeouts, connection resets, incomplete bodies,
      MD5 mismatch, the object replaced between HEAD and GET) are retried up to ``attempts`` tries in
      all, sleeping ``uniform(0, min(max_delay, base_delay * 2**(n-1)))`` after try n; then
      :class:`S3DownloadError`. Other client errors (403, 400, …) raise it at once.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    location = f"s3://{bucket}/{key}"
    last_problem = ""
    for attempt in range(1, attempts + 1):
        try:
            result = _attempt(client, bucket, key, max_bytes, chunk_size)
            result.attempts = attempt
            log.info("downloaded %s: %d bytes in %d attempt(s)", location, result.size, attempt)
            return result
        except _TransientFailure as exc:
            last_problem = str(exc)
        except DocumentError:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                missing = _what_is_missing(client, bucket, key)
                if missing == "bucket":
                    telemetry.s3_failure("refused")
                    raise S3DownloadError(f"bucket {bucket!r} does not exist (check the S3 settings)",
                                          bucket=bucket, key=key, attempts=attempt, transient=False) from exc
                if missing == "key":
                    raise DocumentError(ErrorCode.S3_OBJECT_NOT_FOUND,
                                        f"no object {key!r} in bucket {bucket!r}") from None
                last_problem = "HEAD said 404 but the object exists now"
            elif not _is_transient(exc):
                telemetry.s3_failure("refused")
                raise S3DownloadError(
                    f"download of {location} failed (not retried): {_describe(exc)}",
                    bucket=bucket, key=key, attempts=attempt, transient=False) from exc
            else:
                last_problem = _describe(exc)
        if attempt < attempts:
            delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            log.warning("download of %s, attempt %d/%d failed: %s; retrying in %.2f s",
                        location, attempt, attempts, last_problem, delay)
            telemetry.s3_retry()
            sleep(delay)
    telemetry.s3_failure("exhausted")
    raise S3DownloadError(f"download of {location} failed after {attempts} attempts; last error: {last_problem}",
                          bucket=bucket, key=key, attempts=attempts, transient=True)


def _attempt(client, bucket: str, key: str, max_bytes: int, chunk_size: int) -> DownloadedObject:
    head = client.head_object(Bucket=bucket, Key=key)
    size = int(head.get("ContentLength") or 0)
    if size > max_bytes:
        raise DocumentError(ErrorCode.FILE_TOO_LARGE, f"the object is {size} bytes; the limit is {max_bytes}")
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if head.get("ETag"):
        request["IfMatch"] = head["ETag"]
    response = client.get_object(**request)
    body = response["Body"]
    try:
        data = _read_capped(body, max_bytes, chunk_size)
    finally:
        body.close()
    expected = response.get("ContentLength")
    if expected is not None and len(data) != int(expected):
        raise _TransientFailure(f"incomplete body: {len(data)} of {expected} bytes")
    etag = response.get("ETag") or head.get("ETag")
    _check_md5(data, etag, response)
    return DownloadedObject(data=data, etag=etag, size=len(data), content_type=response.get("ContentType"),
                            metadata=dict(response.get("Metadata") or {}))


def _read_capped(body, max_bytes: int, chunk_size: int) -> bytes:
    """Read a streaming body, never more than ``max_bytes + 1`` bytes; too much is FILE_TOO_LARGE."""
    buffer = bytearray()
    while True:
        chunk = body.read(min(chunk_size, max_bytes + 1 - len(buffer)))
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > max_bytes:
            raise DocumentError(ErrorCode.FILE_TOO_LARGE, f"the object is larger than the limit of {max_bytes} bytes")


def _check_md5(data: bytes, etag: Optional[str], response: dict) -> None:
    """A single-part object's ETag is the MD5 of its bytes, unless it is SSE-KMS/SSE-C encrypted."""
    if not etag:
        return
    plain = etag.strip('"').lower()
    if not _PLAIN_MD5_ETAG.fullmatch(plain):
        return  # multipart ("…-N") or a non-MD5 ETag
    if response.get("ServerSideEncryption") == "aws:kms" or response.get("SSECustomerAlgorithm"):
        return
    actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if actual != plain:
        raise _TransientFailure(f"MD5 mismatch: body {actual}, ETag {plain}")


def _error_code_and_status(exc: BaseException) -> tuple[Optional[str], Optional[int]]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    code = (response.get("Error") or {}).get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return (str(code) if code is not None else None), status


def _is_not_found(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code, status = _error_code_and_status(exc)
    return code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket")


def _what_is_missing(client, bucket: str, key: str) -> str:
    """'key', 'bucket' or 'nothing'. HEAD answers a bare 404 for a missing key and a missing bucket
    alike; a one-byte GET tells them apart, so a wrong bucket is a configuration error, not a
    'document not found' verdict."""
    from botocore.exceptions import ClientError

    try:
        client.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")["Body"].close()
    except ClientError as exc:
        code, _ = _error_code_and_status(exc)
        return "bucket" if code == "NoSuchBucket" else "key"
    except Exception:  # cannot tell: HEAD said 404
        return "key"
    return "nothing"


def _is_transient(exc: BaseException) -> bool:
    from botocore.exceptions import (
        ClientError,
        FlexibleChecksumError,
        HTTPClientError,
        IncompleteReadError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    if isinstance(exc, ClientError):
        code, status = _error_code_and_status(exc)
        return code in _TRANSIENT_CODES or (status is not None and (status >= 500 or status in (408, 412, 429)))
    if isinstance(exc, (BotoConnectionError, HTTPClientError, IncompleteReadError, FlexibleChecksumError)):
        return True
    try:
        from urllib3.exceptions import HTTPError as Urllib3Error

        if isinstance(exc, Urllib3Error):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, (ConnectionError, TimeoutError))


def _describe(exc: BaseException) -> str:
    code, status = _error_code_and_status(exc)
    if code or status:
        return f"{code} (HTTP {status})"
    return f"{type(exc).__name__}: {exc}"
