"""Where runs execute (warm Celery workers) and how Dagster's storage connects (pooled), as configured by
the repository's dagster.yaml; the end-to-end tests run real batches through both."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from ocr_pipeline.deploy.dagster_instance import MAX_OVERFLOW, POOL_SIZE
from ocr_pipeline.deploy.run_workers import DEFAULT_BROKER_URL, WarmWorkerRunLauncher, celery_settings, run_queue
from ocr_pipeline_devtools import services
from ocr_pipeline_devtools.dagster_fixtures import write_dagster_home

pytestmark = pytest.mark.integration


def test_celery_settings_come_from_the_environment(monkeypatch):
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_RUN_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    settings = celery_settings()
    assert settings["broker"] == settings["backend"] == DEFAULT_BROKER_URL and run_queue() == "dagster"
    # acknowledged when done: a worker holds no task it has not started (a dead one takes none with it)
    assert settings["config_source"]["task_acks_late"] is True
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


def test_a_started_task_whose_worker_stopped_beating_is_a_failed_worker(redis_server, monkeypatch):
    """The launcher's health check on a real Redis: a task STARTED by a worker with no heartbeat key (all
    its processes killed) is a failed worker; once that worker beats, the same task is running, and its
    concurrency counts in the queue's live capacity (what the run coordinator launches against)."""
    from types import SimpleNamespace

    from dagster._core.launcher import WorkerStatus
    from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

    from ocr_pipeline.deploy import worker_heartbeat

    monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    monkeypatch.setenv("CELERY_RUN_QUEUE", "heartbeat-test")
    launcher = WarmWorkerRunLauncher.from_config_value(None, {})
    run = SimpleNamespace(run_id="run-1", tags={DAGSTER_CELERY_TASK_ID_TAG: "task-heartbeat-1"})
    launcher.celery.backend.store_result("task-heartbeat-1", {"pid": 1, "hostname": "runs-dead@host"}, "STARTED")

    lost = launcher.check_run_worker_health(run)
    assert lost.status == WorkerStatus.FAILED and "runs-dead@host lost" in lost.msg

    client = worker_heartbeat.redis_client(launcher.celery)
    worker_heartbeat.beat(client, "runs-dead@host", 5.0, "heartbeat-test", concurrency=3)
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    assert worker_heartbeat.live_capacity(client, "heartbeat-test") == 3
    assert worker_heartbeat.live_capacity(client, "another-queue") == 0


def test_a_starting_run_whose_task_ended_first_is_failed_without_waiting_for_the_start_timeout(
        tmp_path, redis_server, monkeypatch):
    """A task that raised before its run started (Dagster's database restarting under the worker) leaves
    the run STARTING; ``fail_runs_lost_before_start`` (``lost_runs_sensor``) fails it once the heartbeat
    grace has passed, on a real instance and a real Redis result backend. A run whose task is still
    running, or that started after all, is left alone."""
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.test_utils import create_run_for_test
    from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

    from ocr_pipeline.deploy.run_workers import fail_runs_lost_before_start

    monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    monkeypatch.setenv("CELERY_RUN_QUEUE", "ended-task-test")
    monkeypatch.setenv("CELERY_WORKER_HEARTBEAT_SECONDS", "0.5")  # grace: 3 beats, 1.5 s
    with services.temporary_postgres_database(prefix="ocr_ended_task") as url:
        monkeypatch.setenv("DAGSTER_PG_URL", url)
        with dg.DagsterInstance.from_config(str(write_dagster_home(tmp_path / "home"))) as instance:
            launcher = instance.run_launcher
            runs = {}
            for name, state in (("raised", "FAILURE"), ("running", "STARTED"), ("started", "SUCCESS")):
                task_id = f"task-{name}-{tmp_path.name}"
                run = create_run_for_test(instance, job_name="verify_request",
                                          tags={DAGSTER_CELERY_TASK_ID_TAG: task_id})
                instance.report_dagster_event(DagsterEvent(DagsterEventType.RUN_STARTING.value, job_name=run.job_name),
                                              run_id=run.run_id)  # what the launcher records: STARTING, launch time
                launcher.celery.backend.store_result(task_id, None if state == "STARTED" else 0, state)
                runs[name] = run.run_id
            instance.report_dagster_event(DagsterEvent(DagsterEventType.RUN_START.value, job_name="verify_request"),
                                          run_id=runs["started"])  # its task ran it: STARTED, not stuck
            assert fail_runs_lost_before_start(instance) == []  # within the grace: nothing yet
            time.sleep(1.6)
            assert fail_runs_lost_before_start(instance) == [runs["raised"]]
            failed = instance.get_run_by_id(runs["raised"])
            assert failed.status == dg.DagsterRunStatus.FAILURE
            message = " ".join(e.message or "" for e in instance.all_logs(runs["raised"]))
            assert "ended (FAILURE) before the run started" in message
            assert instance.get_run_by_id(runs["running"]).status == dg.DagsterRunStatus.STARTING
            assert instance.get_run_by_id(runs["started"]).status == dg.DagsterRunStatus.STARTED
