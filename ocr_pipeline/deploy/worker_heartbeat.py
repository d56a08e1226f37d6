"""Run-worker liveness: each warm worker keeps a key with a short time-to-live in the result backend.

When a whole run worker dies (its main process and pool SIGKILLed, the machine or the pod gone) the
Celery state of the runs it was executing stays ``STARTED`` in the result backend: nobody is left to
change it, and run monitoring would wait ``max_runtime_seconds`` before ending those runs. So the
worker's main process writes ``ocr-pipeline:run-worker:<node name>`` every
``CELERY_WORKER_HEARTBEAT_SECONDS`` (5 s), expiring after three intervals; Celery records the node
name of the worker that started a task in the task's ``STARTED`` state; the launcher
(:meth:`~ocr_pipeline.deploy.run_workers.WarmWorkerRunLauncher.check_run_worker_health`) reports a
``STARTED`` task whose worker has no key as a failed run worker: run monitoring fails the run and
``run_retries`` launches it again.

Node names are unique per worker start (``ocr-pipeline worker`` names itself ``runs-<random>@<host>``),
so a worker restarted on the same machine does not vouch for its dead predecessor's runs. Only a
Redis result backend holds the keys; with another backend the check is skipped (``enabled`` false).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Optional

from ..adapters import config

KEY_PREFIX = "ocr-pipeline:run-worker:"
MISSED_BEATS = 3  # the key outlives this many intervals: a slow beat or two is not a death

logger = logging.getLogger(__name__)


def key(node_name: str) -> str:
    return KEY_PREFIX + node_name


def redis_client(celery_app: Any) -> Optional[Any]:
    """The result backend's Redis client, or None when the backend is not Redis (no heartbeats)."""
    from celery.backends.redis import RedisBackend

    backend = celery_app.backend
    return backend.client if isinstance(backend, RedisBackend) else None


def beat(client: Any, node_name: str, interval: float, queue: str, concurrency: int = 0) -> None:
    """Say once that ``node_name`` is alive, taking runs from ``queue`` ``concurrency`` at a time, for
    ``MISSED_BEATS`` intervals."""
    value = json.dumps({"pid": os.getpid(), "queue": queue, "concurrency": concurrency, "at": time.time()})
    client.set(key(node_name), value, px=int(interval * MISSED_BEATS * 1000))


def is_alive(client: Any, node_name: str) -> bool:
    """Whether ``node_name`` has beaten within the last ``MISSED_BEATS`` intervals."""
    return bool(client.exists(key(node_name)))


def live_capacity(client: Any, queue: str) -> int:
    """How many runs the live workers of ``queue`` execute at once (the sum of their concurrency)."""
    keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=1000))
    total = 0
    for raw in client.mget(keys) if keys else []:
        if raw is None:  # expired between the scan and the read
            continue
        try:
            worker = json.loads(raw)
        except ValueError:
            continue
        if worker.get("queue") == queue:
            total += int(worker.get("concurrency") or 0)
    return total


def start(celery_app: Any, node_name: str, queue: str, concurrency: int = 0) -> Optional[threading.Thread]:
    """Beat from a daemon thread of the worker's main process until it exits (None: not Redis)."""
    client = redis_client(celery_app)
    if client is None:
        logger.warning("result backend is not Redis: no run-worker heartbeat, a lost worker's runs end only "
                       "at run monitoring's max_runtime_seconds")
        return None
    interval = float(config.CELERY_WORKER_HEARTBEAT_SECONDS.get())
    beat(client, node_name, interval, queue, concurrency)  # before the first task can start

    def loop() -> None:
        failing = False
        while True:
            time.sleep(interval)
            try:
                beat(client, node_name, interval, queue, concurrency)
                if failing:
                    logger.info("run-worker heartbeat written again")
                failing = False
            except Exception as error:  # the backend is away: keep trying, say so once
                if not failing:
                    logger.warning("run-worker heartbeat not written (%s); after %.0f s without one the "
                                   "daemon fails this worker's runs", error, interval * MISSED_BEATS)
                failing = True

    thread = threading.Thread(target=loop, name="run-worker-heartbeat", daemon=True)
    thread.start()
    logger.info("run-worker heartbeat %s every %.0f s", key(node_name), interval)
    return thread
