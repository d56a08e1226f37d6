"""Runs wait in Dagster's queue, not on the Celery queue: the daemon launches only as many as the live
run workers can take, plus one waiting per worker process.

A run sent to Celery is ``STARTING`` for Dagster until a worker takes it, and run monitoring fails a run
``STARTING`` longer than ``start_timeout_seconds``: behind slow documents (up to 10 pages of 60 s each)
a run waiting its turn on the Celery queue was failed, and a ``failed`` result went out for a request
that then completed. :class:`WorkerCapacityRunCoordinator` is Dagster's ``QueuedRunCoordinator`` whose
``max_concurrent_runs`` (from ``dagster.yaml``) is a ceiling: the limit each dequeue uses is twice the
live workers' total concurrency (their heartbeats, :mod:`.worker_heartbeat`). Every worker process has
one run executing and at most one waiting (so it starts its next run at once: without that wait, each
run would cost about half a second more of dequeue interval and launch), and a run waits on Celery for
at most one run, less than ``start_timeout_seconds`` (900 s); the rest are ``QUEUED`` (no start
timeout; visible in the UI's queue), and no run is launched while no worker is alive. The fixed limit
it replaces let runs pile up on Celery when workers were fewer or slower than it assumed.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator, RunQueueConfig

from . import worker_heartbeat
from .run_workers import celery_settings, run_queue

logger = logging.getLogger(__name__)

RUNS_PER_WORKER_PROCESS = 2  # one executing, one waiting on the Celery queue


class WorkerCapacityRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` limited to the live run workers' capacity (see the module docstring)."""

    _heartbeats: Any = None
    _warned: Optional[str] = None

    def _heartbeat_client(self) -> Any:
        if self._heartbeats is None:
            from celery import Celery

            settings = celery_settings()
            self._heartbeats = worker_heartbeat.redis_client(Celery(broker=settings["broker"],
                                                                    backend=settings["backend"])) or False
        return self._heartbeats

    def get_run_queue_config(self) -> RunQueueConfig:
        """The configured queue settings with ``max_concurrent_runs`` cut to twice the live workers'
        capacity (the configured value alone when the heartbeats cannot be read: runs are not held back)."""
        configured = super().get_run_queue_config()
        try:
            client = self._heartbeat_client()
            if not client:
                return configured
            capacity = RUNS_PER_WORKER_PROCESS * worker_heartbeat.live_capacity(client, run_queue())
        except Exception as error:  # Redis away: the launches fail anyway; say it once
            if self._warned != str(error):
                logger.warning("run-worker capacity unknown (%s): using max_concurrent_runs", error)
                self._warned = str(error)
            return configured
        self._warned = None
        limit = capacity if configured.max_concurrent_runs == -1 else min(capacity, configured.max_concurrent_runs)
        return configured._replace(max_concurrent_runs=limit)
