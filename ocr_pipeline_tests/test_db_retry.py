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


def test_each_retry_is_a_warning_that_names_the_call_and_not_the_statement(caplog):
    calls = []

    @while_database_restarts(10)
    def store_verdict():
        calls.append(1)
        if len(calls) < 2:
            raise sa.exc.OperationalError("INSERT INTO ocr_requests VALUES ('900101300123')", {},
                                          Exception("server closed the connection unexpectedly"))

    store_verdict()
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    message = record.getMessage()
    assert message.startswith("database unavailable (server closed the connection unexpectedly): ")
    assert "store_verdict retried in 0.2 s" in message and "900101300123" not in message
