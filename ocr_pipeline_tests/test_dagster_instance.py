"""The Dagster tuning ``dagster.yaml`` loads in every process: the daemon's sensor loop period."""

from __future__ import annotations

import json
import subprocess
import sys

from ocr_pipeline_tests.dagster_fixtures import REPO_ROOT


def test_loading_the_instance_module_sets_the_sensor_loop_period():
    probe = ("import dagster._daemon.sensor as s; before = s.MIN_INTERVAL_LOOP_TIME; "
             "import ocr_pipeline.dagster_instance; print(before, s.MIN_INTERVAL_LOOP_TIME)")
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

overrides = {"compute_logs": {"module": "ocr_pipeline.dagster_instance", "class": "FileComputeLogManager"}}
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

    from ocr_pipeline import dagster_instance
    from ocr_pipeline_tests import services

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
