"""Retrying a call while Postgres restarts (``adapters/db_retry.py``)."""

import pytest
import sqlalchemy as sa

from ocr_pipeline.adapters.db_retry import while_database_restarts

pytestmark = pytest.mark.unit


def _cut() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))


def test_a_call_cut_by_a_restart_is_repeated_until_it_succeeds():
    calls = []

    @while_database_restarts(10)
    def write(value):
        calls.append(value)
        if len(calls) < 3:
            raise _cut()
        return value

    assert write("event") == "event" and calls == ["event"] * 3


def test_other_errors_and_a_database_down_for_longer_are_raised():
    @while_database_restarts(10)
    def refused():
        raise sa.exc.IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    with pytest.raises(sa.exc.IntegrityError):
        refused()

    attempts = []

    @while_database_restarts(0.5)
    def down():
        attempts.append(1)
        raise _cut()

    with pytest.raises(sa.exc.OperationalError):
        down()
    assert 2 <= len(attempts) <= 5  # backoff 0.2, 0.4 … within 0.5 s
