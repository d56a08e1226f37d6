"""The S3 circuit breaker (``adapters.s3_breaker``) in real Postgres, moto_server behind the fault
proxy, and a download that waits through an outage instead of failing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource

from ocr_pipeline.adapters.s3 import S3Settings, make_s3_client
from ocr_pipeline.adapters.s3_breaker import CLOSED, HALF_OPEN, OPEN, S3Breaker
from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.defs.resources.s3 import DocumentBucketResource
from ocr_pipeline_devtools import services
from ocr_pipeline_devtools.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

COOLDOWN = 4.0  # seconds: long enough that a loaded machine does not cross it between two statements


@pytest.fixture
def breaker(pg_database_url) -> S3Breaker:
    VerdictStore(pg_database_url).ensure_schema()
    breaker = S3Breaker(pg_database_url, threshold=3, window_seconds=60, cooldown_seconds=COOLDOWN,
                        name=f"test-{services.free_port()}")
    yield breaker
    with breaker.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ocr_s3_breaker WHERE name = :n"), {"n": breaker.name})


def _client(endpoint: str):
    return make_s3_client(S3Settings(endpoint_url=endpoint, bucket="x", region="us-east-1",
                                     connect_timeout=1, read_timeout=2))


def test_opens_after_n_failures_probes_after_the_cooldown_and_closes_on_success(breaker, s3_server, s3_bucket):
    import time

    for _ in range(2):
        breaker.record_failure()
    assert breaker.state() == CLOSED
    breaker.record_failure()
    assert breaker.state() == OPEN
    other_process = S3Breaker(breaker.database_url, 3, 60, COOLDOWN, name=breaker.name)  # the state is shared
    assert other_process.state() == OPEN and "circuit breaker open" in other_process.gate(_client(
        s3_server.endpoint_url), s3_bucket)
    time.sleep(COOLDOWN + 0.2)
    assert breaker.state() == HALF_OPEN
    unreachable = _client(f"http://127.0.0.1:{services.free_port()}")
    assert "probe failed" in breaker.gate(unreachable, s3_bucket)  # the probe failed: open again
    assert breaker.state() == OPEN
    time.sleep(COOLDOWN + 0.2)
    assert breaker.gate(_client(s3_server.endpoint_url), s3_bucket) is None  # probe answered: closed
    assert breaker.state() == CLOSED
    breaker.record_failure()
    assert breaker.state() == CLOSED  # the count started again


def test_403_and_404_do_not_count(breaker, s3_server, s3_bucket):
    with FaultProxy(s3_server.endpoint_url, plan={"HEAD": ["403"] * 5}) as proxy:
        for _ in range(5):
            assert breaker.probe(_client(proxy.endpoint_url), s3_bucket)
    for _ in range(5):
        assert breaker.probe(_client(s3_server.endpoint_url), "no-such-bucket-here")
    assert breaker.state() == CLOSED


def test_a_download_waits_through_an_outage_and_feeds_the_breaker(pg_database_url, s3_server, s3_bucket,
                                                                   monkeypatch):
    VerdictStore(pg_database_url).ensure_schema()
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.setenv("S3_BREAKER_FAILURES", "2")
    s3_server.client().put_object(Bucket=s3_bucket, Key="doc.pdf", Body=b"%PDF-1.7 test")
    shared = S3Breaker(pg_database_url, threshold=2)
    seen = []
    # six HEADs fail (three downloads of two attempts each), then S3 is back
    with FaultProxy(s3_server.endpoint_url, plan={"HEAD": ["503"] * 6},
                    on_request=lambda method, path: seen.append(shared.state())) as proxy:
        documents = DocumentBucketResource(s3=S3Resource(endpoint_url=proxy.endpoint_url, region_name="us-east-1"),
                                           bucket=s3_bucket, download_attempts=2, outage_wait_seconds=60)
        obj = documents.download("doc.pdf", max_bytes=1000)
    assert obj.data == b"%PDF-1.7 test"
    assert OPEN in seen  # the breaker opened during the outage, for the sensor to see
    assert shared.state() == CLOSED  # and the successful download closed it


def test_a_download_gives_up_after_the_outage_wait(pg_database_url, s3_server, s3_bucket, monkeypatch):
    from ocr_pipeline.adapters.s3 import S3DownloadError

    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    documents = DocumentBucketResource(s3=S3Resource(endpoint_url=f"http://127.0.0.1:{services.free_port()}",
                                                     region_name="us-east-1"),
                                       bucket=s3_bucket, download_attempts=1, outage_wait_seconds=3,
                                       connect_timeout=0.5)
    with pytest.raises(S3DownloadError) as caught:
        documents.download("doc.pdf", max_bytes=1000)
    assert caught.value.transient
    S3Breaker(pg_database_url).record_success()  # leave the shared breaker closed for other tests
