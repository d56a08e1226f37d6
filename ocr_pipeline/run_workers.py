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
from typing import Any, Mapping

from dagster_celery.config import DEFAULT_CONFIG
from dagster_celery.launcher import CeleryRunLauncher

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
    """``CeleryRunLauncher`` whose broker, result backend and queue come from the environment."""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> "WarmWorkerRunLauncher":
        return cls(inst_data=inst_data, default_queue=run_queue(), **celery_settings())
