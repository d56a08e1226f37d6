"""Retrying a database call while Postgres restarts or fails over.

A restart cuts every open connection: a statement in flight fails with "server closed the connection
unexpectedly", new connections are refused or told "the database system is shutting down" for a second
or two. A call that is safe to repeat is retried for a bounded time instead of failing a run for it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

import sqlalchemy as sa
from tenacity import RetryCallState, retry, retry_if_exception_type, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

_Call = TypeVar("_Call", bound=Callable[..., Any])

CONNECTION_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError)


def while_database_restarts(seconds: float) -> Callable[[_Call], _Call]:
    """Decorator: retry the call on connection errors for up to ``seconds`` (backoff 0.2 s doubling to
    2 s, a warning per retry: "database unavailable (reason): CALL retried in N s"), then raise the
    last error. Only for calls that are safe to repeat."""
    return retry(retry=retry_if_exception_type(CONNECTION_ERRORS), stop=stop_after_delay(seconds),
                 wait=wait_exponential(multiplier=0.2, max=2.0), before_sleep=_warn, reraise=True)


def _warn(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    # the driver's message, not SQLAlchemy's: that one quotes the statement
    reason = str(getattr(error, "orig", None) or type(error).__name__).strip().splitlines()[0]
    name = getattr(state.fn, "__qualname__", "call")
    log.warning("database unavailable (%s): %s retried in %.1f s", reason, name, state.upcoming_sleep)
