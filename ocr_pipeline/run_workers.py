"""Where runs execute: warm Celery workers, configured from the environment.

``dagster.yaml`` names :class:`WarmWorkerRunLauncher`: Dagster's ``CeleryRunLauncher`` with its
settings read from the environment (one place for the daemon, the webserver and the workers), so the
instance file holds no broker address. The workers themselves are ``ocr_pipeline.celery_worker``.

- ``CELERY_BROKER_URL``: the broker the runs are queued on (default ``redis://127.0.0.1:6379/0``).
- ``CELERY_RESULT_BACKEND``: where task states are kept for run monitoring (default: the broker).
- ``CELERY_RUN_QUEUE``: the queue name (default ``dagster``); deployments sharing a broker need
  different names.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Mapping

from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.config import DEFAULT_CONFIG
from dagster_celery.launcher import CeleryRunLauncher, _get_run_priority
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG, DAGSTER_CELERY_TASK_ID_TAG

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "dagster"


def celery_settings() -> dict[str, Any]:
    """The Celery app arguments the launcher and the workers share, from the environment."""
    broker = os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER_URL
    return {
        "broker": broker,
        "backend": os.environ.get("CELERY_RESULT_BACKEND") or broker,
        "include": [],
        # A task is acknowledged when a worker takes it. If that worker dies the task is not handed to
        # another one (the run would execute twice): run monitoring fails the run, run_retries relaunches.
        "config_source": dict(DEFAULT_CONFIG, task_acks_late=False, worker_hijack_root_logger=False),
    }


def run_queue() -> str:
    """The queue runs are put on and workers take them from (``CELERY_RUN_QUEUE``)."""
    return os.environ.get("CELERY_RUN_QUEUE") or DEFAULT_QUEUE


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
        if DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run was not sent to the run workers")
        return super().check_run_worker_health(run)

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> "WarmWorkerRunLauncher":
        return cls(inst_data=inst_data, default_queue=run_queue(), **celery_settings())
