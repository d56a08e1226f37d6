"""ASGI middleware of the HTTP API: bearer-token auth on every route but health and the docs, the
per-request time limit, and the request metrics."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..adapters import telemetry

log = logging.getLogger("ocr_pipeline.api.app")  # the name operators filter the API's log on


class BearerTokenMiddleware:
    """Rejects requests without the right bearer token before their body is read: every path except
    the ``open_paths`` (health and the API docs), judged by the path the app routes on, so a root path
    (``--root-path``, a proxy prefix, a ``Mount``) cannot move a route out of the check."""

    def __init__(self, app: ASGIApp, token: str, open_paths: frozenset[str] = frozenset()):
        self.app = app
        self.token = token.encode("utf-8")
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] in ("http", "websocket") and route_path(scope) not in self.open_paths
                and not self._authorized(scope)):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
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


def route_path(scope: Scope) -> str:
    """The path the app routes on: ``scope["path"]`` without the ``root_path`` it is mounted under."""
    path, root = scope.get("path", ""), scope.get("root_path", "") or ""
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):] or "/"
    return path


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


class MetricsMiddleware:
    """Counts every HTTP answer by method, route template (``/v1/requests/{request_id}``, never the
    raw path: bounded label values) and status, with its duration; outermost, so 401s and 504s count."""

    def __init__(self, app: ASGIApp, routes: list):
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            telemetry.http_request(scope.get("method", ""), self._template(scope), status,
                                   time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:  # answered before routing (auth, time limit): match it here
            from starlette.routing import Match

            route = next((r for r in self.routes if r.matches(scope)[0] is not Match.NONE), None)
        return getattr(route, "path", None) or "unmatched"


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
