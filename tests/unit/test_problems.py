import pytest
from sqlalchemy import exc as sa_exc

from app.problems import is_database_unavailable


class FakePgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    "sqlstate", ["08006", "08001", "57P01", "57P03", "53300", "57014", "40001"]
)
def test_connection_shutdown_timeout_and_contention_states_are_unavailable(sqlstate: str) -> None:
    assert is_database_unavailable(wrapped(FakePgError(sqlstate)))


@pytest.mark.parametrize("sqlstate", ["23505", "22P02", "42P01", "42703"])
def test_integrity_and_programming_states_are_not_unavailable(sqlstate: str) -> None:
    assert not is_database_unavailable(wrapped(FakePgError(sqlstate)))


def test_network_errors_and_timeouts_are_unavailable() -> None:
    assert is_database_unavailable(ConnectionRefusedError(111, "refused"))
    assert is_database_unavailable(TimeoutError())
    assert is_database_unavailable(sa_exc.TimeoutError("pool timeout"))


def test_a_chained_cause_is_found() -> None:
    outer = RuntimeError("while talking to the database")
    outer.__cause__ = ConnectionResetError("reset")
    assert is_database_unavailable(outer)


def test_a_plain_bug_is_not_unavailable() -> None:
    assert not is_database_unavailable(ValueError("bug"))
    assert not is_database_unavailable(KeyError("k"))
