"""The HTTP API: ``create_app(settings)`` builds the FastAPI application (``ocr-pipeline serve`` runs it).

- ``POST /v1/verify``: one uploaded document, verified by the engine in a worker thread.
- ``POST /v1/kafka-verify``: a Kafka request event; recorded and handed to Dagster as the sensor would.
- ``GET /v1/requests/{request_id}``: a request's status, verdict, timings and run.
- ``GET /health``: Postgres, S3, Kafka and the Dagster webserver.
- ``/v1/reviews``, ``POST /v1/requests/{request_id}/review`` and the ``/review`` page: the review desk
  (``reviews.py``).
- ``GET /metrics``: Prometheus metrics (behind the bearer token like the ``/v1`` routes).

Safety: a client beyond ``API_RATE_LIMIT_PER_MINUTE`` uploads/events gets 429 (``rate_limit.py``);
uploads are capped (413) and sniffed by their magic bytes (415); every request has a time
limit (504); every route but ``/health`` and the docs requires
``Authorization: Bearer <API_BEARER_TOKEN>`` when that variable is
set; IINs are logged masked; an unexpected failure answers a generic 500 with an id to find it in
the log, never a traceback.

Here: the application factory and the state the routes share (``ApiState``). The handlers are in
``routes.py``, the error answers in ``errors.py``, auth and time limit in ``middleware.py``,
configuration in ``settings.py`` (variables declared in ``ocr_pipeline.adapters.config``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Callable, Optional

from fastapi import FastAPI

from .dagster_client import DagsterClient
from .errors import install_error_handlers
from .health import HealthChecker
from .middleware import BearerTokenMiddleware, MetricsMiddleware, RequestTimeoutMiddleware
from .rate_limit import RateLimitMiddleware
from .routes import add_routes
from .settings import ApiSettings, database_url_with_timeouts

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"


class EngineSlots:
    """Counts verifications queued or running in the engine threads; a slot is freed when the work
    ends, not when its request does (a request that timed out leaves its work running)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.taken = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.taken >= self.limit:
                return False
            self.taken += 1
            return True

    def release(self, *_ignored: Any) -> None:
        with self._lock:
            self.taken -= 1


class ApiState:
    """What the routes share: settings, the store (connected lazily), Dagster, worker threads."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self.dagster = DagsterClient(
            settings.dagster_webserver_url,
            timeout=settings.dagster_timeout_seconds,
            ui_url=settings.run_link_base,
            location_name=settings.dagster_location_name,
        )
        self.health = HealthChecker(settings, self.dagster)
        self.io_executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="api-io")
        self.engine_executor = ThreadPoolExecutor(max_workers=settings.verify_workers, thread_name_prefix="api-engine")
        self.engine_slots = EngineSlots(settings.verify_workers + settings.verify_queue)
        self._store = None
        self._store_lock = threading.Lock()

    def store(self):
        """The verdict store, its schema ensured on first use (so the API starts while Postgres is down)."""
        with self._store_lock:
            if self._store is None:
                from ..adapters.store import VerdictStore

                store = VerdictStore(database_url_with_timeouts(self.settings.database_url))
                store.ensure_schema()
                self._store = store
            return self._store

    def submitter(self):
        from .submission import RequestSubmitter

        return RequestSubmitter(self.store(), self.dagster)

    async def blocking(self, fn: Callable[..., Any], *args: Any, timeout: Optional[float] = None) -> Any:
        """Run ``fn(*args)`` in an I/O thread; the event loop never blocks on Postgres or Dagster."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.io_executor, functools.partial(fn, *args))
        if timeout is None:
            return await future
        return await asyncio.wait_for(future, timeout)

    def close(self) -> None:
        self.health.close()
        self.io_executor.shutdown(wait=False, cancel_futures=True)
        self.engine_executor.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------------------- app

def create_app(settings: Optional[ApiSettings] = None) -> FastAPI:
    """The FastAPI application for ``settings`` (default: :meth:`ApiSettings.from_env`)."""
    settings = settings or ApiSettings.from_env()
    state = ApiState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        log.info(
            "API ready: Dagster webserver %s, upload cap %d bytes, auth %s",
            settings.dagster_webserver_url, settings.max_upload_bytes, "on" if settings.bearer_token else "off",
        )
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="ocr_pipeline",
        version=API_VERSION,
        description=(
            "Verifies that a loan-deferral request's supporting document belongs to the applicant. "
            "Same engine, Postgres and Dagster job as the Kafka path."
        ),
        lifespan=lifespan,
    )
    app.state.api = state
    install_error_handlers(app)
    add_routes(app, settings)

    # middleware: the outermost runs first (timeout, then auth, then the rate limit, then FastAPI's own)
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute)
    if settings.bearer_token:
        from .reviews import PAGE_PATHS  # the review page holds no data: it asks for the token itself

        open_paths = frozenset(p for p in ("/health", app.openapi_url, app.docs_url, app.redoc_url,
                                           app.swagger_ui_oauth2_redirect_url, *PAGE_PATHS) if p)
        app.add_middleware(BearerTokenMiddleware, token=settings.bearer_token, open_paths=open_paths)
    app.add_middleware(RequestTimeoutMiddleware, timeout=settings.request_timeout_seconds)
    app.add_middleware(MetricsMiddleware, routes=app.router.routes)
    return app
