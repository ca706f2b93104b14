"""PostgreSQL for tests: each test that asks for ``pg_url`` gets a freshly created, empty database.

The server is ``$MONITOR_TEST_POSTGRES`` (a SQLAlchemy URL naming any database the user may
connect to; default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). The test database is
created there and dropped (``WITH (FORCE)``, so a leaked connection cannot keep it alive) after
the test. Without a reachable server the test is skipped with the reason; with CI=true that is a
failure, since CI must run them (``.ci/run`` starts PostgreSQL).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Read once at import: the autouse _test_env fixture clears every MONITOR_* variable.
SERVER = os.environ.get("MONITOR_TEST_POSTGRES", DEFAULT_SERVER)


def _server() -> Engine:
    """An autocommit engine on the server (CREATE/DROP DATABASE cannot run in a transaction)."""
    return create_engine(SERVER, isolation_level="AUTOCOMMIT", pool_pre_ping=True,
                         connect_args={"connect_timeout": 5})


def _unreachable(error: Exception) -> NoReturn:
    shown = make_url(SERVER).render_as_string(hide_password=True)
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    message = (f"PostgreSQL not reachable at {shown}: {reason}; "
               "start it or set MONITOR_TEST_POSTGRES")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI must run the PostgreSQL tests; .ci/run starts it)")
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped after the test.

    Dispose the engines a test opens on it: the drop ends their connections, and a psycopg
    connection collected while open is a ResourceWarning (an error under our filterwarnings)."""
    server = _server()
    name = f"monitor_test_{uuid.uuid4().hex[:16]}"
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        server.dispose()
        _unreachable(error)
    try:
        yield make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
