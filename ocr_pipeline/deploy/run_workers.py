"""Where runs execute: warm Celery workers, configured from the environment.

``dagster.yaml`` names :class:`WarmWorkerRunLauncher`: Dagster's ``CeleryRunLauncher`` with its
settings read from the environment (one place for the daemon, the webserver and the workers), so the
instance file holds no broker address. The workers themselves are ``ocr_pipeline.deploy.celery_worker``.

- ``CELERY_BROKER_URL``: the broker the runs are queued on (default ``redis://127.0.0.1:6379/0``).
- ``CELERY_RESULT_BACKEND``: where task states are kept for run monitoring (default: the broker).
- ``CELERY_RUN_QUEUE``: the queue name (default ``dagster``); deployments sharing a broker need
  different names.
- ``CELERY_WORKER_HEARTBEAT_SECONDS``: how often each worker says it is alive (default 5 s); a run whose
  worker stayed silent three times that long is failed by run monitoring and relaunched (``worker_heartbeat``).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Mapping, Optional

from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.config import DEFAULT_CONFIG
from dagster_celery.launcher import CeleryRunLauncher, _get_run_priority
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG, DAGSTER_CELERY_TASK_ID_TAG

from ..adapters import config
from . import worker_heartbeat

logger = logging.getLogger(__name__)

DEFAULT_BROKER_URL = config.CELERY_BROKER_URL.default
TAKEN_TASK_START_SECONDS = 2.0  # a task a live worker took is STARTED well within this
DEFAULT_QUEUE = config.CELERY_RUN_QUEUE.default


def celery_settings() -> dict[str, Any]:
    """The Celery app arguments the launcher and the workers share, from the environment."""
    broker = config.CELERY_BROKER_URL.get()
    return {
        "broker": broker,
        "backend": config.CELERY_RESULT_BACKEND.get() or broker,
        "include": [],
        # A task is acknowledged when it ends, so a worker (prefetch multiplier 1) holds no task it has not
        # started: a worker that dies takes no waiting run with it. The runs it was executing are failed by
        # run monitoring (worker_heartbeat) and relaunched by run_retries; their messages, back after the
        # broker's visibility timeout (1 h), are not executed again (celery_worker.execute_job).
        "config_source": dict(DEFAULT_CONFIG, task_acks_late=True, worker_hijack_root_logger=False),
    }


def run_queue() -> str:
    """The queue runs are put on and workers take them from (``CELERY_RUN_QUEUE``)."""
    return config.CELERY_RUN_QUEUE.get()


class WarmWorkerRunLauncher(CeleryRunLauncher):
    """``CeleryRunLauncher`` whose broker, result backend and queue come from the environment.

    The run is tagged with its task id before the task is sent (Dagster's launcher tags it after): a
    daemon killed in between would leave a run executing that run monitoring cannot check; this way
    the worst case is a run never sent, which monitoring fails after ``start_timeout_seconds`` and
    ``run_retries`` launches again.
    """

    def _launch_celery_task_run(self, run: Any, task_signature: Any, routing_key: str) -> None:
        queue = run.tags.get(DAGSTER_CELERY_QUEUE_TAG, self.default_queue)
        task_id = str(uuid.uuid4())
        self._instance.add_run_tags(run.run_id, {DAGSTER_CELERY_TASK_ID_TAG: task_id})
        task_signature.apply_async(
            task_id=task_id, priority=_get_run_priority(run), queue=queue, routing_key=f"{queue}.{routing_key}"
        )
        self._instance.report_engine_event(f"Run sent to the run workers (queue {queue}, task {task_id}).", run,
                                           cls=self.__class__)

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        """The run's Celery task state, as dagster-celery reads it, except that a ``STARTED`` task whose
        run worker has stopped beating (:mod:`.worker_heartbeat`) is a failed worker: nobody is left
        to change that state, and the run would otherwise wait for ``max_runtime_seconds``."""
        if DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run was not sent to the run workers")
        result = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG])
        state = result.state
        if state == "SUCCESS":
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        if state == "FAILURE":
            return CheckRunHealthResult(WorkerStatus.FAILED, "Celery task failed.")
        if state == "STARTED":
            worker = result.info.get("hostname") if isinstance(result.info, dict) else None
            heartbeats = worker_heartbeat.redis_client(self.celery)
            if worker and heartbeats is not None and not worker_heartbeat.is_alive(heartbeats, worker):
                return CheckRunHealthResult(
                    WorkerStatus.FAILED, f"run worker {worker} lost: no heartbeat for "
                    f"{worker_heartbeat.MISSED_BEATS} intervals of {config.CELERY_WORKER_HEARTBEAT_SECONDS.name}")
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"Unknown task status: {state}")

    def lost_before_start(self, run: Any) -> Optional[str]:
        """Why a ``STARTING`` run will never start, or None, ``MISSED_BEATS`` heartbeat intervals after
        its launch:

        - its Celery task has ended (it raised before the run started, e.g. Dagster's database
          unreachable for longer than the worker retries: the run stays STARTING);
        - or it is still ``PENDING`` and no longer on the queue, so a worker took it and never started
          it (a worker takes a task only when a process is free: one that lives starts it at once). Its
          worker died, or the broker lost the message. This one only with a Redis broker (the queue must
          be read).

        Dagster's run monitoring only times such runs out after ``start_timeout_seconds``;
        :func:`fail_runs_lost_before_start` fails them sooner."""
        task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
        if not task_id:
            return None
        stats = self._instance.get_run_stats(run.run_id)
        grace = worker_heartbeat.MISSED_BEATS * float(config.CELERY_WORKER_HEARTBEAT_SECONDS.get())
        if not stats.launch_time or time.time() - stats.launch_time < grace:
            return None
        state = self.celery.AsyncResult(task_id).state
        if state in ("FAILURE", "SUCCESS"):
            return f"its task {task_id} ended ({state}) before the run started"
        if state != "PENDING" or not str(self.broker).startswith(("redis://", "rediss://")):
            return None
        import redis

        queue = run.tags.get(DAGSTER_CELERY_QUEUE_TAG, self.default_queue)
        client = redis.Redis.from_url(self.broker)
        try:
            for name in client.scan_iter(match=f"{queue}*", _type="list"):  # the queue and its priority lists
                if any(task_id.encode() in message for message in client.lrange(name, 0, -1)):
                    return None  # waiting its turn
        finally:
            client.close()
        # a live worker that has just taken it records STARTED within milliseconds: look again
        time.sleep(TAKEN_TASK_START_SECONDS)
        if self.celery.AsyncResult(task_id).state != "PENDING":
            return None
        return (f"its run worker took task {task_id} and never started it ({grace:.0f} s after the launch, "
                "no longer on the queue): the worker was lost")

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> "WarmWorkerRunLauncher":
        return cls(inst_data=inst_data, default_queue=run_queue(), **celery_settings())


def fail_runs_lost_before_start(instance: Any) -> list[str]:
    """Fail the ``STARTING`` runs that will never start (see
    :meth:`WarmWorkerRunLauncher.lost_before_start`), so ``run_retries`` launches them again now rather
    than after ``start_timeout_seconds``; returns their run ids."""
    import dagster as dg

    launcher = instance.run_launcher
    if not isinstance(launcher, WarmWorkerRunLauncher):
        return []
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING])):
        reason = launcher.lost_before_start(run)
        if reason is None:
            continue
        run = instance.get_run_by_id(run.run_id)  # read after the task's state: a task that ended cannot move it
        if run is None or run.status != dg.DagsterRunStatus.STARTING:
            continue
        logger.error("run %s failed: %s", run.run_id, reason)
        instance.report_run_failed(run, f"Run failed before it started: {reason}.")
        failed.append(run.run_id)
    return failed
