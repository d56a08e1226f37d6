"""The HTTP API: ``create_app(settings)`` builds the FastAPI application (``ocr-pipeline serve`` runs it).

- ``POST /v1/verify``: one uploaded document, verified by the engine in a worker thread.
- ``POST /v1/kafka-verify``: a Kafka request event; recorded and handed to Dagster as the sensor would.
- ``GET /v1/requests/{request_id}``: a request's status, verdict, timings and run.
- ``GET /health``: Postgres, S3, Kafka and the Dagster webserver.

Safety: uploads are capped (413) and sniffed by their magic bytes (415); every request has a time
limit (504); ``/v1/*`` requires ``Authorization: Bearer <API_BEARER_TOKEN>`` when that variable is
set; IINs are logged masked; an unexpected failure answers a generic 500 with an id to find it in
the log, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import threading
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Callable, Optional

from fastapi import FastAPI, File, Form, Path, Request, Security, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..engine.iin import mask_iin
from ..engine.models import DocumentError, ErrorCode, error_entry
from ..events import MAX_EVENT_BYTES, MAX_REQUEST_ID, InvalidEvent, RequestEvent, parse_event, validate_event_object
from .dagster_client import DagsterClient, DagsterError
from .health import DOWN, HealthChecker
from .models import (
    ErrorResponse, HealthResponse, KafkaEvent, KafkaVerifyResponse, RequestStatus, VerdictResponse, status_from_row,
)
from .settings import ApiSettings, database_url_with_timeouts

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
MULTIPART_OVERHEAD_BYTES = 64 * 1024
JSON_BODY_LIMIT_BYTES = 1024 * 1024
UPLOAD_SOURCE = "api_upload"
_RUN_LOOKUP_TIMEOUT_SECONDS = 2.0


class ApiError(Exception):
    """An error answer: HTTP ``status``, a ``detail``, optional verdict ``errors`` and headers."""

    def __init__(self, status: int, detail: Any, errors: Optional[list[dict]] = None,
                 headers: Optional[dict[str, str]] = None, extra: Optional[dict[str, Any]] = None):
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers
        self.extra = extra or {}


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
                from ..store import VerdictStore

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


# ------------------------------------------------------------------------------------- middleware

class BearerTokenMiddleware:
    """Rejects ``/v1/*`` requests without the right bearer token before their body is read."""

    def __init__(self, app: ASGIApp, token: str, prefix: str = "/v1/"):
        self.app = app
        self.token = token.encode("utf-8")
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix) and not self._authorized(scope):
            response = JSONResponse(
                {"detail": "missing or invalid bearer token", "errors": []},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        return _bearer_matches(scope, self.token)


def bearer_token_matches(scope: Scope, token: str) -> bool:
    """The request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    return _bearer_matches(scope, token.encode("utf-8"))


def _bearer_matches(scope: Scope, token: bytes) -> bool:
    header = b""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            header = value
            break
    scheme, _, credentials = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(credentials.strip(), token)


class RequestTimeoutMiddleware:
    """Answers 504 when a request takes longer than ``timeout`` seconds (upload and work included).

    Blocking work runs in executor threads, which the cancellation does not stop: a verification in
    progress finishes (and stores its verdict when asked to) after its client got the 504.
    """

    def __init__(self, app: ASGIApp, timeout: float):
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), self.timeout)
        except asyncio.TimeoutError:
            log.warning("%s %s took longer than %.0f s: 504", scope.get("method"), scope.get("path"), self.timeout)
            if not started:
                response = JSONResponse(
                    {"detail": f"the request took longer than {self.timeout:g} s", "errors": []}, status_code=504
                )
                await response(scope, receive, send)


# ---------------------------------------------------------------------------------------- helpers

def _error_body(detail: Any, errors: Optional[list[dict]] = None, **extra: Any) -> dict[str, Any]:
    body = {"detail": detail, "errors": errors or []}
    body.update(extra)
    return body


def _invalid_field(field: Optional[str], reason: str, request_id: Optional[int] = None) -> ApiError:
    loc = ["body", field] if field else ["body"]
    return ApiError(
        422,
        [{"loc": loc, "msg": reason, "type": "invalid_event"}],
        extra={"request_id": request_id} if request_id is not None else None,
    )


def _clean_filename(name: Optional[str]) -> str:
    """An upload's file name fit for a TEXT column and a log line: no control characters, ≤ 200 chars."""
    text = "".join(ch for ch in (name or "") if unicodedata.category(ch)[0] != "C")
    return text.strip()[:200] or "upload"


def _verdict_body(verdict: Any, request_id: Optional[int]) -> dict[str, Any]:
    body = verdict.to_dict()
    body["request_id"] = request_id
    return body


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
    bearer = HTTPBearer(auto_error=False, description="Required when the server sets API_BEARER_TOKEN.")
    secured = [Security(bearer)]
    error_responses = {
        401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
        500: {"model": ErrorResponse, "description": "Unexpected failure (no details; see error_id)."},
        503: {"model": ErrorResponse, "description": "A dependency is unavailable or the server is busy."},
        504: {"model": ErrorResponse, "description": "The request took too long."},
    }

    # -- error handlers ---------------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            jsonable_encoder(_error_body(error.detail, error.errors, **error.extra)),
            status_code=error.status,
            headers=error.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        # the submitted values ("input") are not echoed: they may hold an IIN or megabytes of text
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in error.errors()
        ]
        return JSONResponse(_error_body(details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            _error_body(error.detail), status_code=error.status_code, headers=getattr(error, "headers", None)
        )

    async def _database_down(request: Request, error: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("database unavailable (%s) on %s %s [%s]", type(error).__name__, request.method,
                  request.url.path, error_id)
        return JSONResponse(_error_body("the database is unavailable", error_id=error_id), status_code=503)

    for database_error in _database_errors():
        app.add_exception_handler(database_error, _database_down)

    @app.exception_handler(TimeoutError)
    async def _timeout(request: Request, _error: TimeoutError) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("a dependency timed out on %s %s [%s]", request.method, request.url.path, error_id)
        return JSONResponse(_error_body("a dependency did not answer in time", error_id=error_id), status_code=504)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("unexpected failure on %s %s [%s]", request.method, request.url.path, error_id, exc_info=error)
        return JSONResponse(_error_body("internal server error", error_id=error_id), status_code=500)

    # -- routes -----------------------------------------------------------------------------------

    @app.post(
        "/v1/verify",
        response_model=VerdictResponse,
        dependencies=secured,
        max_body_size=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        summary="Verify one uploaded document",
        responses={
            409: {"model": ErrorResponse, "description": "store=true and the request_id is already taken."},
            413: {"model": ErrorResponse, "description": "The file is larger than the upload cap."},
            415: {"model": ErrorResponse, "description": "Not a PDF, JPEG, PNG or TIFF (by content)."},
            422: {"model": ErrorResponse, "description": "A field is missing or invalid."},
            **error_responses,
        },
    )
    async def verify(
        file: UploadFile = File(description="The document: PDF, JPEG, PNG or TIFF."),
        iin: str = Form(max_length=64, description="Applicant's IIN (12 digits, valid checksum)."),
        last_name: str = Form(max_length=1000),
        first_name: str = Form(max_length=1000),
        second_name: str = Form("", max_length=1000, description="Patronymic; may be empty."),
        store: bool = Form(False, description="Store the verdict in ocr_requests (needs request_id)."),
        request_id: Optional[int] = Form(None, ge=1, le=MAX_REQUEST_ID),
    ) -> Any:
        """Runs the engine on the upload and returns the verdict. Nothing is stored unless
        ``store=true`` with a ``request_id`` (which must not exist yet)."""
        if store and request_id is None:
            raise _invalid_field("request_id", "store=true needs a request_id")
        try:
            event = validate_event_object({
                "request_id": request_id or 1, "s3_path": "upload", "iin": iin,
                "last_name": last_name, "first_name": first_name, "second_name": second_name,
            })
        except InvalidEvent as invalid:
            raise _invalid_field(invalid.field, invalid.reason) from None
        data = await _read_upload(file, settings.max_upload_bytes)
        filename = _clean_filename(file.filename)
        if not state.engine_slots.take():
            raise ApiError(503, "every verification worker is busy; retry later", headers={"Retry-After": "10"})
        try:
            if store:
                event = RequestEvent(
                    request_id=event.request_id, s3_path=f"upload:{filename}", iin=event.iin,
                    last_name=event.last_name, first_name=event.first_name, second_name=event.second_name,
                    extra={"source": UPLOAD_SOURCE, "filename": filename},
                )
                api_store = await state.blocking(state.store)
                if not await state.blocking(api_store.record_received, event):
                    raise ApiError(409, f"request_id {event.request_id} already exists; "
                                        f"see /v1/requests/{event.request_id}")
        except BaseException:
            state.engine_slots.release()
            raise
        log.info("verifying an upload of %d bytes for IIN %s%s", len(data), mask_iin(event.iin),
                 f" (request {event.request_id}, stored)" if store else "")
        verdict = await _run_engine(state, data, event, store)
        return _verdict_body(verdict, event.request_id if store else None)

    @app.post(
        "/v1/kafka-verify",
        status_code=202,
        response_model=KafkaVerifyResponse,
        dependencies=secured,
        max_body_size=JSON_BODY_LIMIT_BYTES,
        summary="Submit a Kafka request event",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": KafkaEvent.model_json_schema()}},
            }
        },
        responses={
            200: {"model": KafkaVerifyResponse, "description": "Already known: its status (no second run)."},
            409: {"model": ErrorResponse, "description": "The request_id is taken by a different request."},
            413: {"model": ErrorResponse, "description": "Body larger than 1 MiB."},
            422: {"model": ErrorResponse, "description": "Not a valid event (the sensor's rules)."},
            **error_responses,
        },
    )
    async def kafka_verify(request: Request) -> Any:
        """Validates the event exactly as the Kafka sensor does, records it (``received``) and submits
        the ``verify_request`` run the sensor would (run key = request_id). 202 for a new request; a
        request_id already known answers 200 with its status or verdict and submits nothing."""
        raw = await request.body()
        try:
            event = parse_event(raw, max_bytes=MAX_EVENT_BYTES)
        except InvalidEvent as invalid:
            raise _invalid_field(invalid.field, invalid.reason, invalid.request_id) from None
        from .submission import RequestConflict, SubmissionFailed

        submitter = await state.blocking(state.submitter)
        try:
            outcome = await state.blocking(submitter.submit, event)
        except RequestConflict as conflict:
            raise ApiError(409, str(conflict)) from None
        except SubmissionFailed as failed:
            raise ApiError(503, str(failed), headers={"Retry-After": "30"}) from None
        row = outcome.row
        run_id = row.get("run_id") or outcome.run_id
        if run_id is None and not outcome.created:
            run_id = await _lookup_run_id(state, event.request_id)
        body = status_from_row({**row, "run_id": run_id}, state.dagster.run_url(run_id) if run_id else None)
        if outcome.created:
            log.info("request %s accepted, run %s", event.request_id, run_id)
            body.update(duplicate=False, message="request recorded; the verification run was submitted")
        else:
            log.info("request %s already known (%s): no new run", event.request_id, row.get("status"))
            body.update(duplicate=True, message="request already known: no new run was submitted")
        return JSONResponse(jsonable_encoder(KafkaVerifyResponse(**body)), status_code=202 if outcome.created else 200)

    @app.get(
        "/v1/requests/{request_id}",
        response_model=RequestStatus,
        dependencies=secured,
        summary="A request's status and verdict",
        responses={404: {"model": ErrorResponse, "description": "Unknown request_id."}, **error_responses},
    )
    async def request_status(request_id: int = Path(ge=1, le=MAX_REQUEST_ID)) -> Any:
        """Status, verdict, errors, timings and the Dagster run (with its link in the Dagster UI)."""
        api_store = await state.blocking(state.store)
        row = await state.blocking(api_store.get, request_id)
        if row is None:
            raise ApiError(404, f"no request {request_id}")
        run_id = row.get("run_id")
        if run_id is None and row["status"] == "received":
            run_id = await _lookup_run_id(state, request_id)
        return status_from_row({**row, "run_id": run_id}, state.dagster.run_url(run_id) if run_id else None)

    @app.get(
        "/health",
        response_model=HealthResponse,
        summary="Dependencies: Postgres, S3, Kafka, Dagster",
        responses={503: {"model": HealthResponse, "description": "At least one dependency is down."}},
    )
    async def health(request: Request) -> Any:
        """Each dependency's status and latency; 503 when one is down. Answers within about
        ``API_HEALTH_TIMEOUT_SECONDS`` + 0.5 s even when a dependency hangs. Open to all; with
        ``API_BEARER_TOKEN`` set, the details (hosts, error messages) only go to callers bearing it."""
        outcomes = await state.health.check_all()
        down = any(outcome.status == DOWN for outcome in outcomes.values())
        show_details = not settings.bearer_token or bearer_token_matches(request.scope, settings.bearer_token)
        body = {
            "status": "unavailable" if down else "ok",
            "checks": {
                name: {**vars(outcome), "detail": outcome.detail if show_details else None}
                for name, outcome in outcomes.items()
            },
        }
        return JSONResponse(body, status_code=503 if down else 200)

    # middleware: the outermost runs first (timeout, then auth, then FastAPI's own)
    if settings.bearer_token:
        app.add_middleware(BearerTokenMiddleware, token=settings.bearer_token)
    app.add_middleware(RequestTimeoutMiddleware, timeout=settings.request_timeout_seconds)
    return app


async def _read_upload(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, after the size cap (413) and the content sniffing (415)."""
    from ..engine.load import detect_format

    data = await file.read(limit + 1)
    if len(data) > limit:
        message = f"the file is larger than {limit} bytes"
        raise ApiError(413, message, [error_entry(ErrorCode.FILE_TOO_LARGE, message)])
    if not data:
        raise _invalid_field("file", "the file is empty")
    try:
        detect_format(data)
    except DocumentError as error:
        raise ApiError(415, error.message, [error_entry(error.code, error.message)]) from None
    return data


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


async def _run_engine(state: ApiState, data: bytes, event: RequestEvent, store: bool) -> Any:
    """The engine in a worker thread (a slot must have been taken). With ``store``, the worker itself
    writes the verdict (or the failure), so the row ends right even when the request timed out."""
    loop = asyncio.get_running_loop()
    try:
        future = state.engine_executor.submit(_verify_and_maybe_store, state, data, event, store)
    except RuntimeError:
        state.engine_slots.release()
        raise
    future.add_done_callback(state.engine_slots.release)
    return await asyncio.wrap_future(future, loop=loop)


def _verify_and_maybe_store(state: ApiState, data: bytes, event: RequestEvent, store: bool) -> Any:
    from ..engine.pipeline import verify_document

    started = time.perf_counter()
    try:
        verdict = verify_document(data, event.applicant(), state.settings.engine_settings())
    except Exception as error:
        if store:
            try:
                state.store().mark_failed(event.request_id, f"engine failed: {type(error).__name__}")
            except Exception:
                log.exception("could not mark request %s failed", event.request_id)
        raise
    if store:
        state.store().save_verdict(event.request_id, verdict, run_id=None)
    log.info("upload verified in %.2f s: verdict %s %s", time.perf_counter() - started, verdict.verdict,
             ",".join(verdict.error_codes) or "-")
    return verdict


async def _lookup_run_id(state: ApiState, request_id: int) -> Optional[str]:
    """The run of a request whose row has no run id yet (the sensor submitted it), best effort."""
    from .dagster_client import RUN_KEY_TAG
    from .submission import VERIFY_JOB_NAME

    def lookup() -> Optional[str]:
        runs = state.dagster.find_runs(
            VERIFY_JOB_NAME, {RUN_KEY_TAG: str(request_id)}, limit=1, timeout=_RUN_LOOKUP_TIMEOUT_SECONDS
        )
        return runs[0].run_id if runs else None

    try:
        return await state.blocking(lookup, timeout=_RUN_LOOKUP_TIMEOUT_SECONDS + 0.5)
    except (DagsterError, asyncio.TimeoutError) as error:
        log.info("run of request %s not looked up: %s", request_id, type(error).__name__)
        return None


def _database_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean Postgres is unreachable or its connections are all busy (503, not 500)."""
    import psycopg2
    import sqlalchemy.exc

    return (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError,
            psycopg2.OperationalError, psycopg2.InterfaceError)
