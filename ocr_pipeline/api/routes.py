"""The HTTP API's routes. ``add_routes(app, settings)`` registers them on the application; each handler
finds what the routes share (``ApiState``: settings, store, Dagster client, worker threads) on
``request.app.state.api``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from typing import TYPE_CHECKING, Any, Optional

from fastapi import Depends, FastAPI, File, Form, Path, Request, Security, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer

from ..adapters import telemetry
from ..engine.iin import mask_iin
from ..engine.models import DocumentError, ErrorCode, error_entry
from ..flows.events import (
    MAX_EVENT_BYTES,
    MAX_REQUEST_ID,
    InvalidEvent,
    RequestEvent,
    parse_event,
    validate_event_object,
)
from .dagster_client import DagsterError
from .errors import ApiError, invalid_field
from .health import DOWN
from .middleware import bearer_token_matches
from .models import (
    ErrorResponse,
    HealthResponse,
    KafkaEvent,
    KafkaVerifyResponse,
    RequestStatus,
    VerdictResponse,
    status_from_row,
)
from .settings import ApiSettings

if TYPE_CHECKING:
    from .app import ApiState

log = logging.getLogger("ocr_pipeline.api.app")  # the name operators filter the API's log on

MULTIPART_OVERHEAD_BYTES = 64 * 1024
JSON_BODY_LIMIT_BYTES = 1024 * 1024
UPLOAD_SOURCE = "api_upload"
_RUN_LOOKUP_TIMEOUT_SECONDS = 2.0

bearer = HTTPBearer(auto_error=False, description="Required when the server sets API_BEARER_TOKEN.")


def require_token(request: Request, _credentials: Any = Security(bearer)) -> None:
    """The bearer token, checked by the route itself as well: the middleware refuses such requests
    first, this holds for a route even where the middleware is not in place."""
    settings: ApiSettings = request.app.state.api.settings
    if settings.bearer_token and not bearer_token_matches(request.scope, settings.bearer_token):
        raise ApiError(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


SECURED = [Depends(require_token)]
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
    500: {"model": ErrorResponse, "description": "Unexpected failure (no details; see error_id)."},
    503: {"model": ErrorResponse, "description": "A dependency is unavailable or the server is busy."},
    504: {"model": ErrorResponse, "description": "The request took too long."},
}

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorResponse, "description": "Over API_RATE_LIMIT_PER_MINUTE from this client; see Retry-After."},
}


async def verify(
    request: Request,
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
    state: ApiState = request.app.state.api
    settings = state.settings
    if store and request_id is None:
        raise invalid_field("request_id", "store=true needs a request_id")
    try:
        event = validate_event_object({
            "request_id": request_id or 1, "s3_path": "upload", "iin": iin,
            "last_name": last_name, "first_name": first_name, "second_name": second_name,
        })
    except InvalidEvent as invalid:
        raise invalid_field(invalid.field, invalid.reason) from None
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


async def kafka_verify(request: Request) -> Any:
    """Validates the event exactly as the Kafka sensor does, records it (``received``) and submits
    the ``verify_request`` run the sensor would (run key = request_id). 202 for a new request; a
    request_id already known answers 200 with its status or verdict and submits nothing."""
    state: ApiState = request.app.state.api
    raw = await request.body()
    try:
        event = parse_event(raw, max_bytes=MAX_EVENT_BYTES)
    except InvalidEvent as invalid:
        raise invalid_field(invalid.field, invalid.reason, invalid.request_id) from None
    from .submission import RequestConflict, SubmissionFailed

    submitter = await state.blocking(state.submitter)
    try:
        with telemetry.span("kafka-verify", request.headers.get("traceparent"), request_id=event.request_id):
            outcome = await state.blocking(submitter.submit, event, telemetry.current_traceparent())
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
        submitted = {"api": " (submitted by the API)", "sensor": " (submitted by the Kafka sensor)"}
        body.update(duplicate=True, message=f"request already known{submitted.get(row.get('submitted_by'), '')}: "
                                            "no new run was submitted")
    return JSONResponse(jsonable_encoder(KafkaVerifyResponse(**body)), status_code=202 if outcome.created else 200)


async def request_status(request: Request, request_id: int = Path(ge=1, le=MAX_REQUEST_ID)) -> Any:
    """Status, verdict, errors, timings and the Dagster run (with its link in the Dagster UI)."""
    state: ApiState = request.app.state.api
    api_store = await state.blocking(state.store)
    row = await state.blocking(api_store.get, request_id)
    if row is None:
        raise ApiError(404, f"no request {request_id}")
    run_id = row.get("run_id")
    if run_id is None and row["status"] == "received":
        run_id = await _lookup_run_id(state, request_id)
    return status_from_row({**row, "run_id": run_id}, state.dagster.run_url(run_id) if run_id else None)


async def health(request: Request) -> Any:
    """Each dependency's status and latency; 503 when one is down. Answers within about
    ``API_HEALTH_TIMEOUT_SECONDS`` + 0.5 s even when a dependency hangs. Open to all; with
    ``API_BEARER_TOKEN`` set, the details (hosts, error messages) only go to callers bearing it."""
    state: ApiState = request.app.state.api
    settings = state.settings
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


async def metrics(request: Request) -> Any:
    """This process's metrics in Prometheus' text format (README, *Metrics*)."""
    body, content_type = telemetry.render_metrics()
    return Response(body, media_type=content_type)


def add_routes(app: FastAPI, settings: ApiSettings) -> None:
    """Register the routes (the upload route's body limit is the settings' upload cap)."""
    app.add_api_route(
        "/v1/verify",
        verify,
        methods=["POST"],
        response_model=VerdictResponse,
        dependencies=SECURED,
        max_body_size=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        summary="Verify one uploaded document",
        responses={
            409: {"model": ErrorResponse, "description": "store=true and the request_id is already taken."},
            413: {"model": ErrorResponse, "description": "The file is larger than the upload cap."},
            415: {"model": ErrorResponse, "description": "Not a PDF, JPEG, PNG or TIFF (by content)."},
            422: {"model": ErrorResponse, "description": "A field is missing or invalid."},
            **RATE_LIMITED,
            **ERROR_RESPONSES,
        },
    )
    app.add_api_route(
        "/v1/kafka-verify",
        kafka_verify,
        methods=["POST"],
        status_code=202,
        response_model=KafkaVerifyResponse,
        dependencies=SECURED,
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
            **RATE_LIMITED,
            **ERROR_RESPONSES,
        },
    )
    app.add_api_route(
        "/v1/requests/{request_id}",
        request_status,
        methods=["GET"],
        response_model=RequestStatus,
        dependencies=SECURED,
        summary="A request's status and verdict",
        responses={404: {"model": ErrorResponse, "description": "Unknown request_id."}, **ERROR_RESPONSES},
    )
    app.add_api_route("/metrics", metrics, methods=["GET"], dependencies=SECURED, include_in_schema=False)

    from .reviews import add_review_routes

    add_review_routes(app, SECURED, ERROR_RESPONSES)
    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=HealthResponse,
        summary="Dependencies: Postgres, S3, Kafka, Dagster",
        responses={503: {"model": HealthResponse, "description": "At least one dependency is down."}},
    )


# ---------------------------------------------------------------------------------------- helpers

def _clean_filename(name: Optional[str]) -> str:
    """An upload's file name fit for a TEXT column and a log line: no control characters, ≤ 200 chars."""
    text = "".join(ch for ch in (name or "") if unicodedata.category(ch)[0] != "C")
    return text.strip()[:200] or "upload"


def _verdict_body(verdict: Any, request_id: Optional[int]) -> dict[str, Any]:
    body = verdict.to_dict()
    body["request_id"] = request_id
    return body


async def _read_upload(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, after the size cap (413) and the content sniffing (415)."""
    from ..engine.load import detect_format

    data = await file.read(limit + 1)
    if len(data) > limit:
        message = f"the file is larger than {limit} bytes"
        raise ApiError(413, message, [error_entry(ErrorCode.FILE_TOO_LARGE, message)])
    if not data:
        raise invalid_field("file", "the file is empty")
    try:
        detect_format(data)
    except DocumentError as error:
        raise ApiError(415, error.message, [error_entry(error.code, error.message)]) from None
    return data


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
    """The verdict of an upload. Stored (``store``): the request's stages (``flows.lifecycle``) with the
    uploaded bytes, the row written by this worker; else the engine alone, nothing written."""
    from ..engine.pipeline import verify_document
    from ..flows.lifecycle import Fetched, RequestLifecycle, process_request

    started = time.perf_counter()
    with telemetry.span("verify upload", request_id=event.request_id if store else None):
        if store:
            lifecycle = RequestLifecycle(state.store(), None, "api")
            verdict = process_request(lifecycle, event, _no_download, fetched=Fetched.upload(data),
                                      settings=state.settings.engine_settings())
        else:
            try:
                verdict = verify_document(data, event.applicant(), state.settings.engine_settings())
            except Exception:
                telemetry.request_failed("api", "INTERNAL_ERROR")
                raise
            telemetry.verdict_reached("api", verdict)
            telemetry.verdict_saved("api", None)  # answered, not stored: no end-to-end latency
    log.info("upload verified in %.2f s: verdict %s %s", time.perf_counter() - started, verdict.verdict,
             ",".join(verdict.error_codes) or "-")
    return verdict


def _no_download(key: str) -> Any:
    raise AssertionError(f"an upload is never downloaded ({key})")


async def _lookup_run_id(state: ApiState, request_id: int) -> Optional[str]:
    """The run of a request whose row has no run id yet (the sensor submitted it), best effort."""
    from ..defs.names import VERIFY_REQUEST_JOB
    from .dagster_client import RUN_KEY_TAG

    def lookup() -> Optional[str]:
        runs = state.dagster.find_runs(
            VERIFY_REQUEST_JOB, {RUN_KEY_TAG: str(request_id)}, limit=1, timeout=_RUN_LOOKUP_TIMEOUT_SECONDS
        )
        return runs[0].run_id if runs else None

    try:
        return await state.blocking(lookup, timeout=_RUN_LOOKUP_TIMEOUT_SECONDS + 0.5)
    except (DagsterError, asyncio.TimeoutError) as error:
        log.info("run of request %s not looked up: %s", request_id, type(error).__name__)
        return None
