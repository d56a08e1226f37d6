"""Error answers of the HTTP API: :class:`ApiError`, the JSON error body, and the exception handlers
(``install_error_handlers``): a dependency that is down is 503, a timeout 504, anything unexpected a
generic 500 with an id to find it in the log, never a traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("ocr_pipeline.api.app")  # the name operators filter the API's log on


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


def error_body(detail: Any, errors: Optional[list[dict]] = None, **extra: Any) -> dict[str, Any]:
    body = {"detail": detail, "errors": errors or []}
    body.update(extra)
    return body


def invalid_field(field: Optional[str], reason: str, request_id: Optional[int] = None) -> ApiError:
    loc = ["body", field] if field else ["body"]
    return ApiError(
        422,
        [{"loc": loc, "msg": reason, "type": "invalid_event"}],
        extra={"request_id": request_id} if request_id is not None else None,
    )


def database_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean Postgres is unreachable or its connections are all busy (503, not 500)."""
    import psycopg2
    import sqlalchemy.exc

    return (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError,
            psycopg2.OperationalError, psycopg2.InterfaceError)


# ---------------------------------------------------------------------------------------- handlers

async def api_error(_request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(error_body(error.detail, error.errors, **error.extra)),
        status_code=error.status,
        headers=error.headers,
    )


async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    # the submitted values ("input") are not echoed: they may hold an IIN or megabytes of text
    details = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in error.errors()
    ]
    return JSONResponse(error_body(details), status_code=422)


async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(
        error_body(error.detail), status_code=error.status_code, headers=getattr(error, "headers", None)
    )


async def database_down(request: Request, error: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    log.error("database unavailable (%s) on %s %s [%s]", type(error).__name__, request.method,
              request.url.path, error_id)
    return JSONResponse(error_body("the database is unavailable", error_id=error_id), status_code=503)


async def timeout(request: Request, _error: TimeoutError) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    log.error("a dependency timed out on %s %s [%s]", request.method, request.url.path, error_id)
    return JSONResponse(error_body("a dependency did not answer in time", error_id=error_id), status_code=504)


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    log.error("unexpected failure on %s %s [%s]", request.method, request.url.path, error_id, exc_info=error)
    return JSONResponse(error_body("internal server error", error_id=error_id), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"detail": …, "errors": […]}`` (plus ``error_id`` for 5xx)."""
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for database_error in database_errors():
        app.add_exception_handler(database_error, database_down)
    app.add_exception_handler(TimeoutError, timeout)
    app.add_exception_handler(Exception, unexpected)
