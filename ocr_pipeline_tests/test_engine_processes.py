"""The engine process pool of the batch paths: results, a dying process, a daemonic owner (Celery's pool
processes are daemonic), and processes that end when their owner is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from ocr_pipeline.flows.engine_processes import EngineProcessDied, EngineProcesses
from ocr_pipeline_devtools.dagster_fixtures import REPO_ROOT

pytestmark = pytest.mark.unit


def _pid_and_square(value: int) -> tuple[int, int]:
    return os.getpid(), value * value


def _die_once(marker: str) -> str:
    """Kills its process the first time (the marker file does not exist yet), answers the second."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    return "second process answered"


def _always_die() -> None:
    os._exit(9)


def _raise_value_error() -> None:
    raise ValueError("bad page")


def test_calls_run_in_other_processes_and_return_their_results():
    with EngineProcesses(2) as engine:
        results = [engine.call(_pid_and_square, n) for n in range(6)]
    assert [square for _, square in results] == [n * n for n in range(6)]
    assert os.getpid() not in {pid for pid, _ in results}


def test_an_exception_in_the_engine_is_raised_to_the_caller():
    with EngineProcesses(1) as engine:
        with pytest.raises(ValueError, match="bad page"):
            engine.call(_raise_value_error)
        assert engine.call(_pid_and_square, 3)[1] == 9  # the pool still works


def test_a_dead_process_is_replaced_and_the_call_repeated_once(tmp_path):
    with EngineProcesses(1) as engine:
        assert engine.call(_die_once, str(tmp_path / "died")) == "second process answered"
        with pytest.raises(EngineProcessDied, match="died twice"):
            engine.call(_always_die)
        assert engine.call(_pid_and_square, 4)[1] == 16


def _use_engine_in_a_daemonic_process(queue) -> None:
    try:
        with EngineProcesses(1) as engine:
            queue.put(engine.call(_pid_and_square, 5)[1])
    except BaseException as error:  # noqa: BLE001 - reported to the test
        queue.put(repr(error))


def test_a_celery_pool_process_can_start_engine_processes():
    """A run executes in a daemonic billiard process (Celery's prefork pool), forked from the worker."""
    import billiard

    queue = billiard.Queue()
    owner = billiard.Process(target=_use_engine_in_a_daemonic_process, args=(queue,), daemon=True)
    owner.start()
    try:
        assert queue.get(timeout=120) == 25
    finally:
        owner.join(30)


OWNER = """
import sys, time
from ocr_pipeline.flows.engine_processes import EngineProcesses
engine = EngineProcesses(2)
engine.call(print, "engine up")
engine.call(print, "engine up")
print("READY", flush=True)
time.sleep(600)
"""


def test_engine_processes_end_when_their_owner_is_killed():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        while "READY" not in (owner.stdout.readline() or "READY"):
            pass
        children = psutil.Process(owner.pid).children(recursive=True)
        assert children, "the owner started no engine process"
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"engine processes outlived their killed owner: {[p.pid for p in alive]}"
    finally:
        if owner.poll() is None:
            owner.kill()
