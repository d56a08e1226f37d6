"""What ``dagster.yaml`` tunes in Dagster itself: pooled storage connections and the sensor loop.

Every process of the deployment (daemon, webserver, code server, run workers) imports this module when
it loads its instance, because ``dagster.yaml`` names :class:`PooledPostgresStorage`.

**Pooled storage.** ``dagster_postgres`` opens a new database connection for every statement (a
``NullPool``), except in the webserver. A run writes about twenty events and the daemon polls several
tables a second, so most of the CPU that Dagster spent around a document went into connecting
(Postgres forks a backend per connection). :class:`PooledPostgresStorage` is the same storage, whose
three parts keep a few connections open per process, checked before use (``pool_pre_ping``) so that a
restarted database costs a reconnect, not a failed statement.

**Sensor loop.** See :func:`shorten_sensor_loop`, called when this module is imported.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

DEFAULT_SENSOR_LOOP_SECONDS = 1.0

POOL_SIZE = 2  # connections kept per storage part and process
MAX_OVERFLOW = 8  # extra connections under concurrency (daemon threads), closed when returned
POOL_RECYCLE_SECONDS = 3600


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` with a connection pool per storage part (runs, events, schedules)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: Optional[ConfigurableClassData] = None,
        token_provider: Any = None,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for part in (self._run_storage, self._event_log_storage, self._schedule_storage):
            part._engine.dispose()
            part._engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_recycle=POOL_RECYCLE_SECONDS,
                pool_pre_ping=True,
            )

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

    seconds = float(os.environ.get("OCR_SENSOR_LOOP_SECONDS") or DEFAULT_SENSOR_LOOP_SECONDS)
    sensor.MIN_INTERVAL_LOOP_TIME = seconds
    return seconds


shorten_sensor_loop()
