"""The run workers: warm Celery worker processes that execute runs in-process.

The daemon's run launcher (:mod:`ocr_pipeline.run_workers`) puts each run on the run queue; one of
these workers executes it. Start them with ``ocr-pipeline worker`` (Celery's
``celery -A ocr_pipeline.celery_worker worker`` with the queue, concurrency and prefetch set).

What a run no longer pays for, compared with the default launcher's process per run: the process
spawn, importing Dagster, OpenCV and the engine, loading the code location (all done once here, before
Celery forks its pool) and opening the Dagster instance (once per pool process, see
``execute_job``).
"""

from __future__ import annotations

from typing import Any, Optional

from dagster import DagsterInstance
from dagster._cli.api import _execute_run_command_body
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import unpack_value
from dagster_celery.config import TASK_EXECUTE_JOB_NAME
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_resume_job_task

from .run_workers import celery_settings, run_queue

app = make_app(app_args={**celery_settings(), "task_default_queue": run_queue()})
resume_job = create_resume_job_task(app)

_instance: Optional[DagsterInstance] = None


def worker_instance() -> DagsterInstance:
    """This pool process's Dagster instance (``$DAGSTER_HOME``), opened on its first run and kept:
    opening one costs about 0.15 s of storage set-up, more than a run's own Dagster bookkeeping."""
    global _instance
    if _instance is None:
        _instance = DagsterInstance.get()
    return _instance


@app.task(bind=True, name=TASK_EXECUTE_JOB_NAME, track_started=True)
def execute_job(_task: Any, execute_job_args_packed: Any) -> int:
    """The launcher's task: execute one run here, as ``dagster api execute_run`` would in a new process
    (dagster-celery's own task, with the instance kept instead of opened per run)."""
    args = unpack_value(execute_job_args_packed, as_type=ExecuteRunArgs)
    return _execute_run_command_body(
        instance=worker_instance(),
        run_id=args.run_id,
        write_stream_fn=lambda _event: None,
        set_exit_code_on_failure=args.set_exit_code_on_failure is not False,
    )


# Warm the pool: everything a run imports, loaded once in the parent before the fork.
import ocr_pipeline.definitions  # noqa: E402,F401  (dagster, the code location, resources)
import ocr_pipeline.engine.pipeline  # noqa: E402,F401  (OpenCV, pypdfium2, pytesseract)
import ocr_pipeline.preview  # noqa: E402,F401
import ocr_pipeline.verification  # noqa: E402,F401  (the engine calls the step makes)
