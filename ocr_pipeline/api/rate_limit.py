"""Per-client rate limit of the HTTP API's work routes (``limits``' moving window, in memory).

A client is its IP address as uvicorn reports it (behind a proxy, run uvicorn with
``--proxy-headers --forwarded-allow-ips`` so that is the caller's, not the proxy's). Beyond
``API_RATE_LIMIT_PER_MINUTE`` requests in the last minute, a limited route answers 429 with
``Retry-After`` before its body is read, so a flood of uploads costs neither upload bandwidth nor
engine time; the routes outside ``limited_paths`` (``/health``, ``/v1/requests/{id}``) are not counted.
The window lives in this process: with several API processes each allows the rate.
"""

from __future__ import annotations

import logging
import math
import time

from fastapi.responses import JSONResponse
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import route_path

log = logging.getLogger("ocr_pipeline.api.app")  # the name operators filter the API's log on

LIMITED_PATHS = frozenset({"/v1/verify", "/v1/kafka-verify"})


class RateLimitMiddleware:
    """429 + ``Retry-After`` for a client over ``per_minute`` requests to ``limited_paths``."""

    def __init__(self, app: ASGIApp, per_minute: int, limited_paths: frozenset[str] = LIMITED_PATHS):
        self.app = app
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.limited_paths = limited_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) not in self.limited_paths:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if self.limiter.hit(self.item, client):
            await self.app(scope, receive, send)
            return
        reset_at, _remaining = self.limiter.get_window_stats(self.item, client)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        log.info("rate limit: %s over %d requests a minute, retry in %d s", client, self.item.amount, retry_after)
        response = JSONResponse(
            {"detail": f"more than {self.item.amount} requests a minute from this client; retry later",
             "errors": []},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)
