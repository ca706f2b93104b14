"""The procrastinate ``App`` on the monitor's own PostgreSQL database.

The queue's tables live beside the monitor's (procrastinate's schema, applied on first
start); the connection comes from ``MONITOR_DATABASE_URL``, the SQLAlchemy URL every other
part of the monitor uses, translated to the libpq form psycopg takes.
"""

from __future__ import annotations

import psycopg
from procrastinate import App, PsycopgConnector
from procrastinate.schema import SchemaManager
from sqlalchemy.engine.url import make_url

from monitor.distributed.tasks import register

# pg_advisory_xact_lock key under which one process applies procrastinate's schema
SCHEMA_LOCK = 0x6D6F6E69746F7201


class NeedsPostgres(ValueError):
    """The distributed mode was asked for on a database that is not PostgreSQL."""


def needs_postgres(database_url: str, command: str) -> str:
    """The one line that says ``command`` cannot run on this database."""
    shown = make_url(database_url).render_as_string(hide_password=True)
    return (f"{command} needs PostgreSQL: MONITOR_DATABASE_URL is {shown} "
            "(set it to postgresql+psycopg://USER@HOST/DATABASE)")


def conninfo(database_url: str, command: str = "monitor worker") -> str:
    """The libpq URI of a ``postgresql[+driver]://`` SQLAlchemy URL; one clear line otherwise."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise NeedsPostgres(needs_postgres(database_url, command))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(dsn: str, pool_size: int = 4) -> App:
    """The app with the monitor's tasks; open it with ``async with app.open_async()``."""
    connector = PsycopgConnector(conninfo=dsn, min_size=1, max_size=max(pool_size, 2))
    app = App(connector=connector)
    register(app)
    return app


async def ensure_schema(dsn: str) -> bool:
    """Apply procrastinate's schema when it is missing; True when this call applied it.

    Under a transaction-level advisory lock, so workers starting together do not race: the
    second one waits, then finds the tables there.
    """
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cursor.fetchone()
        if row is not None and row[0]:
            return False
        await conn.execute(SchemaManager.get_schema())
        return True
