"""The Dagster tuning ``dagster.yaml`` loads in every process: the daemon's sensor loop period."""

from __future__ import annotations

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
