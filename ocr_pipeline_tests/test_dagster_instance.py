"""The Dagster tuning ``dagster.yaml`` loads in every process: the daemon's sensor loop period."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ocr_pipeline_devtools.dagster_fixtures import REPO_ROOT

pytestmark = pytest.mark.integration


def test_loading_the_instance_module_sets_the_sensor_loop_period():
    probe = ("import dagster._daemon.sensor as s; before = s.MIN_INTERVAL_LOOP_TIME; "
             "import ocr_pipeline.deploy.dagster_instance; print(before, s.MIN_INTERVAL_LOOP_TIME)")
    for environment, expected in (({}, "1.0"), ({"OCR_SENSOR_LOOP_SECONDS": "2.5"}, "2.5")):
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT,
                                env={"PATH": "/usr/bin:/bin", **environment}, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        before, after = result.stdout.split()
        assert float(before) == 5 and after == expected  # Dagster's own value, then ours


def test_compute_logs_are_kept_for_the_ui_without_echoing_to_the_worker_output(tmp_path):
    """A step's stdout and stderr land in the compute-log files the UI reads; the run worker's own output
    does not repeat them (the stock manager's `tail` processes did)."""
    probe = """
import json, sys
from pathlib import Path
import dagster as dg

@dg.op
def talk():
    print("step says hello")
    print("step warns", file=sys.stderr)

@dg.job
def talking():
    talk()

overrides = {"compute_logs": {"module": "ocr_pipeline.deploy.dagster_instance", "class": "FileComputeLogManager"}}
with dg.instance_for_test(overrides=overrides) as instance:
    result = talking.execute_in_process(instance=instance)
    assert result.success
    manager = instance.compute_log_manager
    print("MANAGER", type(manager).__name__)
    files = {path.suffix: path.read_text() for path in Path(manager._base_dir).rglob("*") if path.is_file()}
    print("FILES", json.dumps(files))
"""
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT,
                            env={"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(home)}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines()
             if line.startswith(("MANAGER", "FILES"))}
    assert lines["MANAGER"] == "FileComputeLogManager"
    files = json.loads(lines["FILES"])
    assert "step says hello" in files[".out"] and "step warns" in files[".err"]
    assert ".complete" in files  # the UI's sign that the capture ended
    printed = result.stdout.replace(lines["FILES"], "")
    assert "step says hello" not in printed and "step warns" not in result.stderr


def test_a_process_checks_the_storage_tables_once(monkeypatch):
    """The code server makes an instance per sensor evaluation: only the first checks (or creates) the tables."""
    import sqlalchemy

    from ocr_pipeline.deploy import dagster_instance
    from ocr_pipeline_devtools import services

    inspected = []
    real_inspect = sqlalchemy.inspect
    monkeypatch.setattr(sqlalchemy, "inspect", lambda subject: inspected.append(subject) or real_inspect(subject))
    with services.temporary_postgres_database(prefix="ocr_tables") as url:
        first = dagster_instance.PooledPostgresStorage(url)
        checks_of_the_first = len(inspected)
        second = dagster_instance.PooledPostgresStorage(url)
        assert checks_of_the_first >= 3 and len(inspected) == checks_of_the_first
        assert second.run_storage.get_runs_count() == 0  # the second storage works on the created tables
        for storage in (first, second):
            for part in (storage.run_storage, storage.event_log_storage, storage.schedule_storage):
                part.dispose()


def _connections_to(database: str) -> int:
    import psycopg2

    from ocr_pipeline_devtools import services

    conn = psycopg2.connect(host=services.PG_HOST, port=services.PG_PORT, user=services.PG_USER, dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_instances_of_one_process_share_its_pools_so_connections_stay_flat(tmp_path, monkeypatch):
    """Dagster opens an instance per sensor evaluation and never disposes its engines: 12 instances, each
    used and dropped as the code server does, leave no more connections than the first (at most
    ``POOL_SIZE`` per storage part), and every engine hides statement parameters in its errors."""
    import gc

    import dagster as dg
    import sqlalchemy

    from ocr_pipeline.deploy import dagster_instance
    from ocr_pipeline_devtools import services
    from ocr_pipeline_devtools.dagster_fixtures import write_dagster_home

    gc.disable()  # a garbage collection would hide a leak: the test counts what is still referenced
    try:
        with services.temporary_postgres_database(prefix="ocr_pools") as url:
            database = url.rsplit("/", 1)[1]
            monkeypatch.setenv("DAGSTER_PG_URL", url)
            home = write_dagster_home(tmp_path / "home")
            counts, engines = [], set()
            for _ in range(12):
                instance = dg.DagsterInstance.from_config(str(home))
                instance.get_runs_count()
                instance.all_instigator_state()
                instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.RUN_SUCCESS), limit=1)
                engines |= {id(part._engine) for part in (instance.run_storage, instance.event_log_storage,
                                                          instance.schedule_storage)}
                instance.dispose()
                del instance
                counts.append(_connections_to(database))
            print(f"connections after each of 12 instances: {counts}")
            engine = dagster_instance.shared_engine(dagster_instance.psycopg2_url(url), "runs")
            with pytest.raises(sqlalchemy.exc.DBAPIError) as failed:
                with engine.connect() as conn:
                    conn.execute(sqlalchemy.text("SELECT 1 / :zero"), {"zero": 0})
    finally:
        gc.enable()
    assert len(engines) == 3, engines  # one per storage part, for every instance
    assert max(counts) <= 3 * dagster_instance.POOL_SIZE and counts[-1] <= counts[0], counts
    assert "hidden due to hide_parameters" in str(failed.value), str(failed.value)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_the_instance_storage_accepts_every_usual_url_form(scheme, tmp_path, monkeypatch):
    """dagster.yaml's storage (DAGSTER_PG_URL) opens with each form and stores a run."""
    import dagster as dg

    from ocr_pipeline_devtools import services
    from ocr_pipeline_devtools.dagster_fixtures import write_dagster_home

    with services.temporary_postgres_database(prefix="ocr_instance_url") as url:
        monkeypatch.setenv("DAGSTER_PG_URL", f"{scheme}://{url.split('://', 1)[1]}")
        home = write_dagster_home(tmp_path / "home")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            run = instance.create_run_for_job(_one_op_job())
            assert instance.get_run_by_id(run.run_id) is not None
            engine = instance.run_storage._engine  # the pooled storage's engine: psycopg2 whatever the scheme
            assert engine.dialect.driver == "psycopg2"


def _one_op_job():
    import dagster as dg

    @dg.op
    def nothing():
        return None

    @dg.job
    def one_op():
        nothing()

    return one_op
