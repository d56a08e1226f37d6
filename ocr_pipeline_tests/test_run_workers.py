"""Where runs execute (warm Celery workers) and how Dagster's storage connects (pooled), as configured by
the repository's dagster.yaml; the end-to-end tests run real batches through both."""

from __future__ import annotations

import sqlalchemy as sa

from ocr_pipeline.dagster_instance import MAX_OVERFLOW, POOL_SIZE
from ocr_pipeline.run_workers import DEFAULT_BROKER_URL, WarmWorkerRunLauncher, celery_settings, run_queue
from ocr_pipeline_tests import services
from ocr_pipeline_tests.dagster_fixtures import write_dagster_home


def test_celery_settings_come_from_the_environment(monkeypatch):
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_RUN_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    settings = celery_settings()
    assert settings["broker"] == settings["backend"] == DEFAULT_BROKER_URL and run_queue() == "dagster"
    assert settings["config_source"]["task_acks_late"] is False  # a dead worker's run is retried, not re-run
    assert settings["config_source"]["worker_prefetch_multiplier"] == 1

    monkeypatch.setenv("CELERY_BROKER_URL", "redis://queue.example:6380/2")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://states.example:6381/3")
    monkeypatch.setenv("CELERY_RUN_QUEUE", "ocr-runs")
    launcher = WarmWorkerRunLauncher.from_config_value(None, {})
    assert (launcher.broker, launcher.backend, launcher.default_queue) == (
        "redis://queue.example:6380/2", "redis://states.example:6381/3", "ocr-runs")
    assert launcher.supports_check_run_worker_health  # run monitoring can fail a dead worker's run


def test_the_instance_launches_runs_on_the_workers_and_pools_its_connections(tmp_path, monkeypatch):
    import dagster as dg

    with services.temporary_postgres_database(prefix="ocr_instance") as url:
        monkeypatch.setenv("DAGSTER_PG_URL", url)
        monkeypatch.setenv("CELERY_RUN_QUEUE", "pooled-test")
        home = write_dagster_home(tmp_path / "home")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.run_launcher, WarmWorkerRunLauncher)
            assert instance.run_launcher.default_queue == "pooled-test"
            for part in (instance._run_storage, instance._event_storage, instance._schedule_storage):
                assert isinstance(part._engine.pool, sa.pool.QueuePool)
            database = url.rsplit("/", 1)[1]
            admin = sa.create_engine(services.sqlalchemy_url("postgres"))
            with admin.connect() as conn:
                def open_connections() -> int:
                    return conn.execute(sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db"), {"db": database}).scalar()

                for _ in range(50):
                    instance.get_runs_count()
                    instance.all_logs("no-such-run")
                # NullPool (dagster_postgres's default) would leave none open
                assert 1 <= open_connections() <= 3 * (POOL_SIZE + MAX_OVERFLOW)
                pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :db"),
                                    {"db": database}).scalars().all()
                for _ in range(50):
                    instance.get_runs_count()
                # the same connections served the next fifty statements: none was opened for them
                assert set(conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :db"),
                                        {"db": database}).scalars().all()) == set(pids)
            admin.dispose()
