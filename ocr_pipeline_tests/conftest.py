"""Session fixtures that start real services: Tansu (Kafka), moto_server (S3) and a Postgres database.

- ``kafka_broker``: ``.bootstrap_servers``; ``new_topic(partitions=1)`` makes a fresh topic per test.
- ``s3_server``: ``.endpoint_url``, ``.client()``, ``.create_bucket()``; dummy AWS credentials are in
  the environment while it runs; ``s3_bucket`` is a fresh bucket per test.
- ``pg_database_url``: ``postgresql+psycopg2://postgres@127.0.0.1:5432/<unique db>``, dropped at the end.
  Without a Postgres on 127.0.0.1:5432 the tests that need it are skipped, except under CI (``CI`` set),
  where that is an error.

When a test that uses a service fails, the tail of that service's log is added to its report.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from ocr_pipeline_devtools import fault_report, services

_RUNNING: dict[str, services.ServiceProcess] = {}
_FIXTURE_SERVICE = {"kafka_broker": "tansu", "s3_server": "moto_server", "redis_server": "redis-server"}


@pytest.fixture(scope="session")
def service_log_dir(tmp_path_factory) -> Path:
    """Directory holding the service logs of this session (under pytest's basetemp)."""
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def kafka_broker(service_log_dir):
    """A Tansu broker on a free loopback port for the whole session."""
    with services.start_kafka(log_dir=service_log_dir) as broker:
        _RUNNING["tansu"] = broker.service
        try:
            yield broker
        finally:
            _RUNNING.pop("tansu", None)


@pytest.fixture
def new_topic(kafka_broker):
    """Factory: ``new_topic(partitions=1) -> name`` creates a topic with a unique name on the broker."""

    def make(partitions: int = 1, prefix: str = "test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        services.create_topic(kafka_broker.bootstrap_servers, name, partitions)
        return name

    return make


@pytest.fixture(scope="session")
def s3_server(service_log_dir):
    """moto_server on a free loopback port; dummy AWS credentials are set in the environment meanwhile."""
    with services.aws_test_credentials(), services.start_s3(log_dir=service_log_dir) as server:
        _RUNNING["moto_server"] = server.service
        try:
            yield server
        finally:
            _RUNNING.pop("moto_server", None)


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh, empty bucket on ``s3_server``."""
    return s3_server.create_bucket()


@pytest.fixture
def s3_client(s3_server):
    """A boto3 S3 client for ``s3_server`` (botocore retries off)."""
    return s3_server.client()


@pytest.fixture(scope="session")
def pg_database_url():
    """A database of its own on the local Postgres (127.0.0.1:5432, user postgres), dropped at the end."""
    if not services.postgres_available():
        message = (f"no PostgreSQL answers on {services.PG_HOST}:{services.PG_PORT} as user "
                   f"{services.PG_USER!r} (start one, e.g. `pg_ctlcluster 15 main start`)")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with services.temporary_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server(service_log_dir):
    """A redis-server of the session's own on a free loopback port (the run workers' Celery broker)."""
    with services.start_redis(log_dir=service_log_dir) as server:
        _RUNNING["redis-server"] = server.service
        try:
            yield server
        finally:
            _RUNNING.pop("redis-server", None)


@pytest.fixture
def deployment(tmp_path, kafka_broker, new_topic, s3_server, pg_database_url, redis_server, monkeypatch):
    """A daemon's world (``dagster_fixtures.Deployment``): a 2-partition topic, a bucket, Dagster storage,
    the session's Redis as the run workers' broker."""
    from ocr_pipeline_devtools.dagster_fixtures import deployment_environment

    topic = new_topic(partitions=2, prefix="e2e")
    with deployment_environment(tmp_path, kafka_broker, topic, s3_server, pg_database_url, monkeypatch,
                                redis_url=redis_server.url) as world:
        yield world


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    used = {_FIXTURE_SERVICE[f] for f in getattr(item, "fixturenames", ()) if f in _FIXTURE_SERVICE}
    for name in sorted(used):
        service = _RUNNING.get(name)
        if service is not None:
            report.sections.append((f"{name} log (tail of {service.log_path})", service.log_tail(80)))


def pytest_terminal_summary(terminalreporter):
    rows = fault_report.rows()
    if rows:
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write_line(fault_report.markdown_table(rows))
        fault_report.write_report()
