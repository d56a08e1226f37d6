"""What ``dagster.yaml`` tunes in Dagster itself: pooled storage connections, compute-log capture and the
sensor loop.

Every process of the deployment (daemon, webserver, code server, run workers) imports this module when
it loads its instance, because ``dagster.yaml`` names :class:`PooledPostgresStorage`.

**Pooled storage.** ``dagster_postgres`` opens a new database connection for every statement (a
``NullPool``), except in the webserver. A run writes about twenty events and the daemon polls several
tables a second, so most of the CPU that Dagster spent around a document went into connecting
(Postgres forks a backend per connection). :class:`PooledPostgresStorage` is the same storage, whose
three parts keep a few connections open per process, checked before use (``pool_pre_ping``) so that a
restarted database costs a reconnect, not a failed statement; an event write caught by the restart
itself (its connection cut mid-statement) is retried for up to ``EVENT_WRITE_RETRY_SECONDS``, so a
run's step does not fail for Dagster's own bookkeeping. The pools are the process's, shared by
every instance it opens (:func:`shared_engine`), so their connections stay flat over ticks and runs.

**Compute logs.** See :class:`FileComputeLogManager`.

**Sensor loop.** See :func:`shorten_sensor_loop`, called when this module is imported.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional, Sequence

from dagster._core.execution.compute_logs import redirect_to_file
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster._utils import ensure_file, touch_file
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

from ..adapters.config import DAGSTER_HOME, OCR_SENSOR_LOOP_SECONDS
from ..adapters.db_retry import while_database_restarts
from ..adapters.db_url import psycopg2_url

DEFAULT_SENSOR_LOOP_SECONDS = OCR_SENSOR_LOOP_SECONDS.default

POOL_SIZE = 2  # connections kept per storage part and process
MAX_OVERFLOW = 8  # extra connections under concurrency (daemon threads), closed when returned
POOL_RECYCLE_SECONDS = 3600
EVENT_WRITE_RETRY_SECONDS = 30.0


_tables_checked: set[str] = set()  # storage URLs whose tables this process has checked or created

_engines: dict[tuple[str, str], Any] = {}  # (storage URL, storage part) -> this process's engine
_engines_lock = threading.Lock()


def shared_engine(postgres_url: str, part: str, token_provider: Any = None) -> Any:
    """This process's pooled engine for one storage part (``runs``, ``event_log``, ``schedules``) of the
    storage at ``postgres_url``, made on first use and shared by every instance the process opens.

    Dagster opens an instance for every sensor evaluation in the code server and never disposes its
    storage's engines: with an engine per instance, each evaluation left three open connections behind
    until garbage collection found them (measured: one code server held 9 to 32, the deployment's total
    rose from 27 to 47 over 90 s of idle ticks and 200 requests; with shared engines 4 and about 20,
    flat). Shared engines keep at most ``POOL_SIZE``
    connections per part and process open, whatever the number of ticks and runs. ``hide_parameters``:
    a failed statement's error (logged, shown in the UI) never quotes the values it wrote. The token
    provider of the first instance is used: every instance of a process comes from one ``dagster.yaml``.
    """
    key = (postgres_url, part)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_recycle=POOL_RECYCLE_SECONDS,
                pool_pre_ping=True,
                hide_parameters=True,
            )
            _engines[key] = engine
        return engine


def _new_pools_after_fork() -> None:
    # A forked child (a Celery pool process) must not use its parent's connections: new pools, the
    # parent's connections left open for the parent.
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_new_pools_after_fork)


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` with a connection pool per storage part (runs, events, schedules)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: Optional[ConfigurableClassData] = None,
        token_provider: Any = None,
    ):
        postgres_url = psycopg2_url(postgres_url)  # postgres:// and postgresql:// as well
        # Dagster makes an instance (and this storage) for every sensor evaluation in the code server:
        # once this process has seen the tables, later instances skip the check (3 connections and
        # schema queries: about half of the idle code server's CPU samples).
        check_tables = should_autocreate_tables and postgres_url not in _tables_checked
        super().__init__(postgres_url, check_tables, inst_data, token_provider)
        if check_tables:
            _tables_checked.add(postgres_url)
        for name, part in (("runs", self._run_storage), ("event_log", self._event_log_storage),
                           ("schedules", self._schedule_storage)):
            part._engine.dispose()
            part._engine = shared_engine(postgres_url, name, token_provider)
        # A write repeated after a cut connection may store one event twice (the rare cut between its
        # INSERT and its NOTIFY): a duplicate log line, where failing would fail the run's step.
        events = self._event_log_storage
        events.store_event = while_database_restarts(EVENT_WRITE_RETRY_SECONDS)(events.store_event)
        events.store_event_batch = while_database_restarts(EVENT_WRITE_RETRY_SECONDS)(events.store_event_batch)

    @classmethod
    def from_config_value(
        cls, inst_data: Optional[ConfigurableClassData], config_value: Mapping[str, Any]
    ) -> "PooledPostgresStorage":
        return cls(
            pg_url_from_config(config_value),
            config_value.get("should_autocreate_tables", True),
            inst_data,
            get_token_provider_from_config(config_value),
        )


class FileComputeLogManager(LocalComputeLogManager):
    """Dagster's local compute logs (a step's stdout and stderr in files under ``base_dir``, shown in the
    UI), without echoing them to the run worker's own output.

    The stock manager echoes each stream through a ``tail -F`` process watched by a Python process: four
    processes started and stopped for every run (the two Python watchers alone measured 0.016 CPU
    seconds a run). The worker's output only repeated what the UI shows. ``base_dir`` defaults to
    ``$DAGSTER_HOME/storage``, where the stock manager keeps them.
    """

    @classmethod
    def config_type(cls) -> Any:
        from dagster import Field, Float, StringSource

        return {"base_dir": Field(StringSource, is_required=False),
                "polling_timeout": Field(Float, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: Optional[ConfigurableClassData], config_value: Mapping[str, Any]
    ) -> "FileComputeLogManager":
        config = dict(config_value)
        config.setdefault("base_dir", os.path.join(DAGSTER_HOME.get(), "storage"))
        return cls(inst_data=inst_data, **config)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Iterator[CapturedLogContext]:
        outpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        errpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        ensure_file(outpath)
        ensure_file(errpath)
        with redirect_to_file(sys.stdout, outpath), redirect_to_file(sys.stderr, errpath):
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))  # the UI's sign that the capture is complete


def shorten_sensor_loop() -> float:
    """Make the daemon's sensor loop wake every ``OCR_SENSOR_LOOP_SECONDS`` (default 1 s) instead of
    Dagster's fixed 5 s, and return the value.

    A request waits for the next sensor tick; with the fixed loop that was 2.5 s on average and up to
    5 s, most of a request's latency beyond its OCR. Each sensor still ticks at most every
    ``minimum_interval_seconds`` (``OCR_SENSOR_INTERVAL_SECONDS``). The loop period is a module
    constant of ``dagster._daemon.sensor`` (no setting exists); ``test_dagster_instance`` fails if an
    upgrade renames it.
    """
    from dagster._daemon import sensor

    seconds = OCR_SENSOR_LOOP_SECONDS.get()
    sensor.MIN_INTERVAL_LOOP_TIME = seconds
    return seconds


shorten_sensor_loop()
