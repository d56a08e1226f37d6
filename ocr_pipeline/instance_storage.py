"""Dagster's Postgres storage with pooled connections, for every process of the deployment.

``dagster_postgres`` opens a new database connection for every statement (a ``NullPool``), except in
the webserver. A run writes about twenty events and the daemon polls several tables a second, so
most of the CPU that Dagster spent around a document went into connecting (Postgres forks a backend
per connection). ``dagster.yaml`` names :class:`PooledPostgresStorage` instead: the same storage,
whose three parts keep a few connections open per process, checked before use (``pool_pre_ping``)
so that a restarted database costs a reconnect, not a failed statement.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

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
