-- The compose Postgres holds two databases: Dagster's own storage and the verdict store.
CREATE DATABASE dagster;
