"""The run workers: warm Celery worker processes that execute runs in-process.

The daemon's run launcher (:mod:`ocr_pipeline.deploy.run_workers`) puts each run on the run queue; one of
these workers executes it. Start them with ``ocr-pipeline worker`` (Celery's
``celery -A ocr_pipeline.deploy.celery_worker worker`` with the queue, concurrency and prefetch set).

What a run no longer pays for, compared with the default launcher's process per run: the process
spawn, importing Dagster, OpenCV and the engine, loading the code location (all done once here, before
Celery forks its pool) and opening the Dagster instance (once per pool process, see
``execute_job``).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from celery import signals
from dagster import DagsterInstance, DagsterRunStatus
from dagster._cli.api import _execute_run_command_body
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import unpack_value
from dagster_celery.config import TASK_EXECUTE_JOB_NAME
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_resume_job_task

from ..adapters import config
from ..adapters.db_retry import while_database_restarts
from ..engine.ocr import sweep_orphaned_temp_dirs
from . import worker_heartbeat
from .run_workers import celery_settings, run_queue

app = make_app(app_args={**celery_settings(), "task_default_queue": run_queue()})
resume_job = create_resume_job_task(app)
logger = logging.getLogger(__name__)
RUN_LOOKUP_RETRY_SECONDS = 60.0  # a Postgres restart or failover takes seconds; a run must not fail for it


@signals.celeryd_after_setup.connect
def _first_heartbeat(sender: str, instance: Any, **_kwargs: Any) -> None:
    """Beat once before the pool starts, so no task of this worker is ever STARTED without a heartbeat."""
    client = worker_heartbeat.redis_client(app)
    if client is not None:
        worker_heartbeat.beat(client, sender, float(config.CELERY_WORKER_HEARTBEAT_SECONDS.get()), run_queue())


@signals.celeryd_after_setup.connect
def _sweep_orphaned_ocr_directories(**_kwargs: Any) -> None:
    """Remove the OCR temporary directories of run-worker processes killed before (a lost worker's)."""
    sweep_orphaned_temp_dirs()


@signals.worker_ready.connect
def _keep_beating(sender: Any, **_kwargs: Any) -> None:
    """The main process's heartbeat thread (started after the pool forked: the children do not inherit it)."""
    worker_heartbeat.start(app, sender.hostname, run_queue(), int(getattr(sender.controller, "concurrency", 0) or 0))

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
    (dagster-celery's own task, with the instance kept instead of opened per run).

    Acknowledged when it ends (``task_acks_late``, see ``run_workers.celery_settings``): with
    ``--prefetch-multiplier 1`` a worker then holds no task it has not started, so a worker that dies
    takes none waiting with it. The message of a run it was executing comes back after the broker's
    visibility timeout; by then run monitoring has failed that run (``worker_heartbeat``) and it is
    not executed again here.
    """
    args = unpack_value(execute_job_args_packed, as_type=ExecuteRunArgs)
    instance = worker_instance()
    run = _run_by_id(instance, args.run_id)
    if run is not None and run.status not in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING):
        message = (f"run {args.run_id} is {run.status.value}: its task was delivered again after a run worker "
                   "was lost; not executing it twice")
        if run.status == DagsterRunStatus.STARTED:
            raise RuntimeError(message)  # the task fails: run monitoring fails the run, run_retries relaunches
        logger.warning(message)
        return 0
    return _execute_run_command_body(
        instance=instance,
        run_id=args.run_id,
        write_stream_fn=lambda _event: None,
        set_exit_code_on_failure=args.set_exit_code_on_failure is not False,
    )


@while_database_restarts(RUN_LOOKUP_RETRY_SECONDS)
def _run_by_id(instance: DagsterInstance, run_id: str) -> Any:
    """The run, read while Dagster's database may be restarting: the first statement of a task, so
    nothing has happened yet and it is safe to repeat (a task that fails here leaves its run STARTING,
    which only ``lost_runs_sensor`` would notice)."""
    return instance.get_run_by_id(run_id)


# Warm the pool: everything a run imports, loaded once in the parent before the fork.
import ocr_pipeline.definitions  # noqa: E402,F401  (dagster, the code location, resources)
import ocr_pipeline.engine.pipeline  # noqa: E402,F401  (OpenCV, pypdfium2, pytesseract)
import ocr_pipeline.flows.preview  # noqa: E402,F401
import ocr_pipeline.flows.verification  # noqa: E402,F401  (the engine calls the step makes)
