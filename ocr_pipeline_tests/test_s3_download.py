"""download_object against moto_server, directly and through a fault-injecting proxy."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from ocr_pipeline.adapters.s3 import (
    S3ConfigurationError,
    S3DownloadError,
    S3Settings,
    _read_capped,
    download_object,
    make_s3_client,
)
from ocr_pipeline.engine.models import DocumentError, ErrorCode
from ocr_pipeline_devtools.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

UNICODE_KEYS = [
    "Приказ о выходе в декретный отпуск - Жармағанбетова.pdf",
    "2024/12/Справка с места работы (копия) №5.jpg",
    "қазақша/Әйгерім Серікқызы — бұйрық.PNG",
    "spaces  and+plus&amp;=%20percent?#hash.pdf",
    "ё/Ёлкина Алёна.pdf",
]


def client_for(endpoint_url: str, bucket: str, **changes):
    settings = S3Settings(endpoint_url=endpoint_url, bucket=bucket, **changes)
    return make_s3_client(settings)


def put(s3_client, bucket: str, key: str, data: bytes, **extra) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body=data, **extra)


def no_sleep(_seconds: float) -> None:
    pass


@pytest.mark.parametrize("key", UNICODE_KEYS)
def test_unicode_keys_download_intact(s3_server, s3_bucket, s3_client, key):
    data = os.urandom(4096) + key.encode()
    put(s3_client, s3_bucket, key, data, ContentType="application/pdf", Metadata={"source": "mobile"})
    client = client_for(s3_server.endpoint_url, s3_bucket)

    result = download_object(client, s3_bucket, key, max_bytes=1 << 20)

    assert result.data == data and result.size == len(data)
    assert result.etag.strip('"') == hashlib.md5(data).hexdigest()
    assert result.content_type == "application/pdf" and result.metadata == {"source": "mobile"}
    assert result.attempts == 1


def test_empty_object_and_exact_limit(s3_server, s3_bucket, s3_client):
    client = client_for(s3_server.endpoint_url, s3_bucket)
    put(s3_client, s3_bucket, "empty.pdf", b"")
    assert download_object(client, s3_bucket, "empty.pdf", max_bytes=10).data == b""
    put(s3_client, s3_bucket, "ten.pdf", b"0123456789")
    assert download_object(client, s3_bucket, "ten.pdf", max_bytes=10).size == 10


def test_missing_key_is_s3_object_not_found_without_retries(s3_server, s3_bucket):
    with FaultProxy(s3_server.endpoint_url) as proxy:
        client = client_for(proxy.endpoint_url, s3_bucket)
        with pytest.raises(DocumentError) as info:
            download_object(client, s3_bucket, "нет/такого файла.pdf", max_bytes=1000, sleep=no_sleep)
    assert info.value.code is ErrorCode.S3_OBJECT_NOT_FOUND
    assert proxy.count("HEAD") == 1
    assert proxy.count("GET") == 1  # the one-byte GET that tells a missing key from a missing bucket


def test_missing_bucket_is_a_configuration_error_not_a_verdict(s3_server):
    client = client_for(s3_server.endpoint_url, "no-such-bucket")
    with pytest.raises(S3DownloadError, match="bucket 'no-such-bucket' does not exist") as info:
        download_object(client, "no-such-bucket", "a.pdf", max_bytes=1000, sleep=no_sleep)
    assert info.value.transient is False and info.value.attempts == 1


def test_too_large_by_head_downloads_nothing(s3_server, s3_bucket, s3_client):
    put(s3_client, s3_bucket, "big.pdf", b"x" * 5000)
    with FaultProxy(s3_server.endpoint_url) as proxy:
        client = client_for(proxy.endpoint_url, s3_bucket)
        with pytest.raises(DocumentError) as info:
            download_object(client, s3_bucket, "big.pdf", max_bytes=4999)
    assert info.value.code is ErrorCode.FILE_TOO_LARGE and "5000 bytes" in info.value.message
    assert (proxy.count("HEAD"), proxy.count("GET")) == (1, 0)


def test_head_that_understates_the_size_is_caught_while_streaming(s3_server, s3_bucket, s3_client):
    put(s3_client, s3_bucket, "grows.pdf", b"y" * 50_000)
    with FaultProxy(s3_server.endpoint_url, {"HEAD": ["shrink_length"]}) as proxy:
        client = client_for(proxy.endpoint_url, s3_bucket)
        with pytest.raises(DocumentError) as info:
            download_object(client, s3_bucket, "grows.pdf", max_bytes=1000, chunk_size=256)
    assert info.value.code is ErrorCode.FILE_TOO_LARGE


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.consumed = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


def test_capped_read_never_reads_more_than_limit_plus_one():
    stream = CountingStream(b"z" * 10_000)
    with pytest.raises(DocumentError):
        _read_capped(stream, max_bytes=1000, chunk_size=300)
    assert stream.consumed == 1001
    assert _read_capped(CountingStream(b"abc"), max_bytes=3, chunk_size=2) == b"abc"


@pytest.mark.parametrize("plan, tries", [
    ({"HEAD": ["500", "500"]}, 3),
    ({"HEAD": ["503"]}, 2),
    ({"HEAD": ["reset"]}, 2),
    ({"GET": ["500"]}, 2),
    ({"GET": ["503", "503"]}, 3),
    ({"GET": ["reset"]}, 2),
    ({"GET": ["truncate"]}, 2),
    ({"GET": ["short_body"]}, 2),
    ({"GET": ["corrupt"]}, 2),
    ({"GET": ["delay"]}, 2),
    ({"HEAD": ["500"], "GET": ["reset", "truncate", "corrupt"]}, 5),
], ids=["head-500x2", "head-503", "head-reset", "get-500", "get-503x2", "get-reset", "get-truncated", "get-short-body",
        "get-md5-mismatch", "get-read-timeout", "mixed"])
def test_transient_faults_are_retried_until_success(s3_server, s3_bucket, s3_client, plan, tries):
    data = os.urandom(20_000)
    put(s3_client, s3_bucket, "Приказ.pdf", data)
    with FaultProxy(s3_server.endpoint_url, plan, delay_seconds=1.5) as proxy:
        client = client_for(proxy.endpoint_url, s3_bucket, read_timeout=0.5, connect_timeout=1)
        result = download_object(client, s3_bucket, "Приказ.pdf", max_bytes=1 << 20, attempts=5,
                                 base_delay=0.01, max_delay=0.05)
    assert result.data == data
    assert result.attempts == tries
    assert proxy.count("HEAD") == tries  # botocore's own retries are off: one request per try


def test_exhausted_retries_raise_s3_download_error_with_attempts(s3_server, s3_bucket, s3_client):
    put(s3_client, s3_bucket, "flaky.pdf", b"data")
    delays: list[float] = []
    with FaultProxy(s3_server.endpoint_url, {"GET": ["500"] * 10}) as proxy:
        client = client_for(proxy.endpoint_url, s3_bucket)
        with pytest.raises(S3DownloadError) as info:
            download_object(client, s3_bucket, "flaky.pdf", max_bytes=1000, attempts=4,
                            base_delay=0.5, max_delay=1.5, sleep=delays.append)
    error = info.value
    assert isinstance(error, RuntimeError)
    assert error.attempts == 4 and error.transient is True
    assert "after 4 attempts" in str(error) and "InternalError (HTTP 500)" in str(error)
    assert (proxy.count("HEAD"), proxy.count("GET")) == (4, 4)
    assert len(delays) == 3
    assert all(0 <= d <= cap for d, cap in zip(delays, (0.5, 1.0, 1.5)))  # full jitter, capped


@pytest.mark.parametrize("plan", [{"HEAD": ["403"]}, {"GET": ["403"]}], ids=["head", "get"])
def test_access_denied_is_not_retried(s3_server, s3_bucket, s3_client, plan):
    put(s3_client, s3_bucket, "secret.pdf", b"data")
    with FaultProxy(s3_server.endpoint_url, plan) as proxy:
        client = client_for(proxy.endpoint_url, s3_bucket)
        with pytest.raises(S3DownloadError, match="not retried") as info:
            download_object(client, s3_bucket, "secret.pdf", max_bytes=1000, sleep=no_sleep)
    assert info.value.attempts == 1 and info.value.transient is False
    assert proxy.count("HEAD") == 1


def test_object_replaced_between_head_and_get_is_read_consistently(s3_server, s3_bucket, s3_client):
    put(s3_client, s3_bucket, "doc.pdf", b"version one")
    replaced = []

    def replace_after_first_head(method, path):
        if method == "HEAD" and not replaced:
            replaced.append(True)
            put(s3_client, s3_bucket, "doc.pdf", b"version two, longer")

    with FaultProxy(s3_server.endpoint_url, on_request=replace_after_first_head) as proxy:
        client = client_for(proxy.endpoint_url, s3_bucket)
        result = download_object(client, s3_bucket, "doc.pdf", max_bytes=1000, base_delay=0.01)
    assert result.data == b"version two, longer"
    assert result.etag.strip('"') == hashlib.md5(b"version two, longer").hexdigest()
    assert result.attempts == 2  # If-Match made the first GET fail with 412 instead of mixing versions


def test_multipart_etag_skips_md5_but_downloads(s3_server, s3_bucket, s3_client):
    part = os.urandom(5 * 1024 * 1024)
    upload = s3_client.create_multipart_upload(Bucket=s3_bucket, Key="multi.pdf")
    etags = []
    for number, chunk in enumerate((part, b"tail"), start=1):
        r = s3_client.upload_part(Bucket=s3_bucket, Key="multi.pdf", PartNumber=number,
                                  UploadId=upload["UploadId"], Body=chunk)
        etags.append({"PartNumber": number, "ETag": r["ETag"]})
    s3_client.complete_multipart_upload(Bucket=s3_bucket, Key="multi.pdf", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": etags})
    client = client_for(s3_server.endpoint_url, s3_bucket)
    result = download_object(client, s3_bucket, "multi.pdf", max_bytes=6 * 1024 * 1024)
    assert "-" in result.etag and result.data == part + b"tail"


def test_client_needs_credentials_from_the_environment(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with pytest.raises(S3ConfigurationError, match="AWS_ACCESS_KEY_ID"):
        make_s3_client(S3Settings(endpoint_url="http://127.0.0.1:1", bucket="b"))


def test_client_settings_are_applied(s3_server):
    client = make_s3_client(S3Settings(endpoint_url=s3_server.endpoint_url, bucket="b", region="kz-1",
                                       connect_timeout=2, read_timeout=7))
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout, client.meta.region_name) == (2, 7, "kz-1")
    assert config.retries["total_max_attempts"] == 1
    assert config.s3["addressing_style"] == "path"
