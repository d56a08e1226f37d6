"""Helpers for the orchestration tests (store, sensor, IO manager, daemon end to end).

Plain functions and context managers; the session fixtures of ``conftest.py`` start the services.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ocr_pipeline.engine.iin import checksum_digit

REPO_ROOT = Path(__file__).resolve().parent.parent

_request_ids = itertools.count(random.randint(10**6, 10**9) * 1000)


def new_request_id() -> int:
    """A request_id no other test in this session uses (tests share one database)."""
    return next(_request_ids)


def make_iin(birth: str = "960125", gender_digit: str = "4", serial: str = "0001") -> str:
    """A valid IIN: birth date YYMMDD, century/gender digit (3 male / 4 female, 1900s), a serial, checksum.

    Serials whose control digit would be 10 are skipped by bumping the serial.
    """
    number = int(serial)
    while True:
        first11 = f"{birth}{gender_digit}{number:04d}"
        control = checksum_digit(first11)
        if control is not None:
            return first11 + str(control)
        number += 1


def event_dict(request_id: int, s3_path: str, iin: str, last_name: str, first_name: str,
               second_name: str = "", **extra: Any) -> dict[str, Any]:
    """An event as the mobile app publishes it."""
    return {"request_id": request_id, "s3_path": s3_path, "iin": iin, "last_name": last_name,
            "first_name": first_name, "second_name": second_name, **extra}


def event_bytes(**fields: Any) -> bytes:
    """``event_dict(**fields)`` as the JSON value of a Kafka record (UTF-8, Cyrillic unescaped)."""
    return json.dumps(event_dict(**fields), ensure_ascii=False).encode("utf-8")


def run_verify_request(s3_endpoint_url: str, bucket: str, database_url: str, s3_path: str,
                       applicant: Any, traceparent: Optional[str] = None) -> tuple[Any, dict[str, Any]]:
    """Run ``verify_request`` in process for ``applicant``'s document at ``s3_path`` (a new request_id;
    ``traceparent`` as the sensor would pass an event's); asserts the run succeeded and returns the
    event and the verdict materialization's metadata values."""
    import dagster as dg
    from dagster_aws.s3 import S3Resource

    from ocr_pipeline.defs.assets import request_verdict
    from ocr_pipeline.defs.jobs import verify_request_job
    from ocr_pipeline.defs.resources import DocumentBucketResource, PostgresVerdictIOManager, VerdictStoreResource
    from ocr_pipeline.defs.sensors.kafka_requests import run_request_for
    from ocr_pipeline.flows.events import RequestEvent

    store = VerdictStoreResource(database_url=database_url)
    defs = dg.Definitions(
        assets=[request_verdict], jobs=[verify_request_job],
        resources={"documents": DocumentBucketResource(s3=S3Resource(endpoint_url=s3_endpoint_url), bucket=bucket),
                   "verdict_store": store, "verdict_io_manager": PostgresVerdictIOManager(verdict_store=store)},
    )
    event = RequestEvent(request_id=new_request_id(), s3_path=s3_path, iin=applicant.iin,
                         last_name=applicant.last_name, first_name=applicant.first_name,
                         second_name=applicant.second_name)
    store.get_store().record_received(event)  # as the sensor does before requesting the run
    run = run_request_for(event, traceparent)
    result = defs.resolve_job_def("verify_request").execute_in_process(run_config=run.run_config, tags=run.tags)
    assert result.success
    materialization = result.asset_materializations_for_node("request_verdict")[0]
    return event, {k: v.value for k, v in materialization.metadata.items()}


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.5,
             what: str = "condition", on_timeout: Optional[Callable[[], str]] = None) -> Any:
    """Poll ``condition()`` until it returns something truthy; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail}")
        time.sleep(interval)


def write_dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME holding the repository's deployment dagster.yaml (Postgres via DAGSTER_PG_URL)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", path / "dagster.yaml")
    return path


class DaemonProcess:
    """The deployment's processes: ``dagster-daemon run -w workspace.yaml`` and the run workers
    (``ocr-pipeline worker``, the dagster.yaml launcher's Celery workers), each with its log file."""

    def __init__(self, env: dict[str, str], log_path: Path, worker_concurrency: int = 2):
        self.env = env
        self.log_path = log_path
        self.worker_log_path = log_path.with_name(log_path.stem + "-worker.log")
        self.worker_concurrency = worker_concurrency
        self.process: Optional[subprocess.Popen] = None
        self.worker: Optional[subprocess.Popen] = None

    def _spawn(self, command: list[str], log_path: Path) -> subprocess.Popen:
        log_file = open(log_path, "ab")
        try:
            return subprocess.Popen(
                command, cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        finally:
            log_file.close()

    def start_worker(self) -> "DaemonProcess":
        """Start the run workers unless they are running."""
        if not self.worker_alive():
            self.worker = self._spawn(
                [str(Path(sys.executable).parent / "ocr-pipeline"), "worker", "--concurrency",
                 str(self.worker_concurrency)], self.worker_log_path,
            )
        return self

    def start(self) -> "DaemonProcess":
        """Start the run workers (unless running) and the daemon."""
        bin_dir = Path(sys.executable).parent
        self.start_worker()
        self.process = self._spawn(
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")], self.log_path
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def worker_pool_pids(self) -> list[int]:
        """The pids of the worker's pool processes (the children that execute runs)."""
        if not self.worker_alive():
            return []
        import psutil

        return [child.pid for child in psutil.Process(self.worker.pid).children()]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Send ``sig`` to the daemon's and the workers' process groups; wait; then kill."""
        for process in (self.process, self.worker):
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def kill_worker_group(self) -> None:
        """SIGKILL every process of the run workers at once (main process and pool), as when their
        machine or pod dies; the daemon keeps running."""
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(30)

    def kill_daemon_only(self, sig: int) -> None:
        """Send ``sig`` to the daemon process alone (its children get what the daemon does with them);
        the run workers keep running."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the process groups (code server, workers) after a stop."""
        for process in (self.process, self.worker):
            if process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 80) -> str:
        """The last lines of the daemon's and the workers' logs."""
        parts = []
        for path in (self.log_path, self.worker_log_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            parts.append(f"--- {path.name}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)


@contextlib.contextmanager
def running_daemon(env: dict[str, str], log_path: Path) -> Iterator[DaemonProcess]:
    """Start the daemon; on exit stop it and everything it started (its process group)."""
    daemon = DaemonProcess(env, log_path).start()
    try:
        yield daemon
    finally:
        daemon.stop()
        daemon.kill_group()


@dataclass
class Deployment:
    """One daemon's world: its DAGSTER_HOME, environment, topic, bucket and verdict store."""

    home: Path
    env: dict[str, str]
    topic: str
    bucket: str
    store: Any  # VerdictStore
    log_dir: Path

    def instance(self) -> Any:
        """The deployment's DagsterInstance (Postgres storage)."""
        import dagster as dg

        return dg.DagsterInstance.from_config(str(self.home))

    def daemon(self, name: str = "daemon") -> DaemonProcess:
        return DaemonProcess(self.env, self.log_dir / f"{name}.log")


@contextlib.contextmanager
def deployment_environment(tmp_path: Path, kafka_broker: Any, topic: str, s3_server: Any,
                           database_url: str, monkeypatch: Any,
                           redis_url: Optional[str] = None) -> Iterator[Deployment]:
    """A daemon's world on the test services: DAGSTER_HOME with the repository's dagster.yaml, a Dagster
    storage database of its own, the environment the daemon and the run workers get (also set in this
    process, which re-executes runs itself), the verdict schema. ``redis_url``: the run workers' broker
    (default: ``CELERY_BROKER_URL`` or the local Redis)."""
    from ocr_pipeline.adapters.store import VerdictStore
    from ocr_pipeline_devtools import services

    bucket = s3_server.create_bucket()
    with services.temporary_postgres_database(prefix="ocr_dagster") as dagster_url:
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(write_dagster_home(tmp_path / "dagster_home")),
            DAGSTER_PG_URL=dagster_url,
            KAFKA_BOOTSTRAP_SERVERS=kafka_broker.bootstrap_servers,
            KAFKA_TOPIC=topic,
            KAFKA_GROUP_ID=f"group-{topic}",
            S3_ENDPOINT_URL=s3_server.endpoint_url,
            S3_BUCKET=bucket,
            AWS_REGION="us-east-1",
            DATABASE_URL=database_url,
            CELERY_BROKER_URL=redis_url or os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0",
            CELERY_RUN_QUEUE=f"runs-{topic}",  # deployments may share a Redis
            OCR_SENSOR_INTERVAL_SECONDS="1",
            # the session's verdict database holds other tests' rows left "received" on purpose (sensor
            # ticks without a daemon): the stuck-request sensor stays off unless a test turns it on
            OCR_STUCK_REQUEST_GRACE_SECONDS="0",
            OMP_THREAD_LIMIT="1",
            PYTHONUNBUFFERED="1",
        )
        for name in ("DAGSTER_HOME", "DAGSTER_PG_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC",
                     "KAFKA_GROUP_ID", "S3_ENDPOINT_URL", "S3_BUCKET", "AWS_REGION", "DATABASE_URL",
                     "CELERY_BROKER_URL", "CELERY_RUN_QUEUE"):
            monkeypatch.setenv(name, env[name])
        store = VerdictStore(database_url)
        store.ensure_schema()
        yield Deployment(Path(env["DAGSTER_HOME"]), env, topic, bucket, store, tmp_path)
