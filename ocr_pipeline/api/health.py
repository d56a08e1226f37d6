"""``/health``: Postgres, the S3 bucket, Kafka metadata and the Dagster webserver, each with a latency.

Every check is a blocking call run in a thread with its own client timeouts, and the caller waits at
most ``timeout`` + 0.5 seconds for it: a hanging dependency is reported ``down`` in time. A check still
running from an earlier request is not started again (no pile-up of threads against a dead host);
it is reported ``down`` until it returns.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .dagster_client import DagsterClient, safe_message
from .settings import ApiSettings, database_url_with_timeouts

log = logging.getLogger(__name__)

UP = "up"
DOWN = "down"


@dataclass
class CheckOutcome:
    """One dependency's state: ``up`` or ``down``, how long the check took, and a short detail."""

    status: str
    latency_ms: Optional[float]
    detail: Optional[str] = None


def check_postgres(database_url: str, timeout: float) -> str:
    """``SELECT 1`` over a new connection made as the verdict store makes them (same URL and driver),
    not from a pool, which could hide a dead server."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    url = database_url_with_timeouts(database_url, max(1, int(round(timeout))), int(timeout * 1000))
    engine = sa.create_engine(url, poolclass=NullPool, hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).scalar()
    finally:
        engine.dispose()
    where = sa.engine.make_url(database_url)
    return f"{where.host or 'local socket'}:{where.port or 5432}/{where.database}"


def s3_health_client(settings: ApiSettings, timeout: float) -> Any:
    """A boto3 S3 client with short timeouts and no retries (credentials from boto3's usual chain,
    as the runs' resource uses them)."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
    )
    return boto3.session.Session(region_name=settings.s3_region).client(
        "s3", endpoint_url=settings.s3_endpoint_url or None, verify=settings.s3_ca_bundle or None, config=config
    )


def check_s3(client: Any, bucket: str) -> str:
    """HEAD the document bucket."""
    client.head_bucket(Bucket=bucket)
    return f"bucket {bucket}"


def check_kafka(settings: ApiSettings, timeout: float) -> str:
    """Metadata of the request topic from the brokers (no group join, nothing consumed)."""
    from ..adapters.kafka import KafkaSettings, topic_partitions

    timeout_ms = max(1000, int(timeout * 1000))
    kafka_settings = KafkaSettings(**settings.kafka, request_timeout_ms=timeout_ms, client_id="ocr_pipeline-api-health")
    return f"topic {kafka_settings.topic}: {len(topic_partitions(kafka_settings))} partition(s)"


def check_dagster(client: DagsterClient, timeout: float) -> str:
    """The webserver's ``/server_info``."""
    info = client.server_info(timeout=timeout)
    return f"dagster-webserver {info.get('dagster_webserver_version') or info.get('dagit_version') or '?'}"


class HealthChecker:
    """Runs the four checks concurrently, each bounded by ``settings.health_timeout_seconds``."""

    def __init__(self, settings: ApiSettings, dagster: DagsterClient):
        self.settings = settings
        self.timeout = settings.health_timeout_seconds
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._s3: Any = None
        self.checks: dict[str, Callable[[], str]] = {
            "postgres": lambda: check_postgres(settings.database_url, self.timeout),
            "s3": lambda: check_s3(self._s3_client(), settings.s3_bucket),
            "kafka": lambda: check_kafka(settings, self.timeout),
            "dagster": lambda: check_dagster(dagster, self.timeout),
        }

    def _s3_client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                self._s3 = s3_health_client(self.settings, self.timeout)
            return self._s3

    def _run_one(self, name: str) -> Any:
        try:
            return self.checks[name]()
        finally:
            with self._lock:
                self._running.discard(name)

    async def _check(self, name: str) -> CheckOutcome:
        with self._lock:
            if name in self._running:
                return CheckOutcome(DOWN, None, "the previous check has not returned yet")
            self._running.add(name)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, self._run_one, name)
        except RuntimeError:  # executor shut down
            with self._lock:
                self._running.discard(name)
            raise
        try:
            detail = await asyncio.wait_for(future, timeout=self.timeout + 0.5)
        except asyncio.TimeoutError:
            log.warning("health: %s did not answer within %.1f s", name, self.timeout)
            return CheckOutcome(DOWN, _ms(started), f"no answer within {self.timeout:g} s")
        except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
            message = safe_message(f"{type(exc).__name__}: {exc}", limit=200)
            log.warning("health: %s is down: %s", name, message)
            return CheckOutcome(DOWN, _ms(started), message)
        return CheckOutcome(UP, _ms(started), detail)

    async def check_all(self) -> dict[str, CheckOutcome]:
        """Every dependency's outcome, by name."""
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._check(name) for name in names))
        return dict(zip(names, outcomes))

    def close(self) -> None:
        """Stop accepting checks; threads still blocked in a check finish on their own timeouts."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
