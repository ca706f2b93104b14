"""The database: engine, schema migrations on open, sessions.

SQLite is the embedded default (WAL, so the daemon and a ``monitor check`` can
work side by side); PostgreSQL (``postgresql+psycopg://…``) is the shared store of
many workers; any SQLAlchemy URL works through ``MONITOR_DATABASE_URL``. The schema
is Alembic's (monitor/store/migrations), brought to the newest revision on open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine.url import make_url
from sqlmodel import Session, create_engine

from monitor.store import migrations


def open_engine(url: str, *, migrate: bool = True) -> Engine:
    """An engine for ``url``, its schema upgraded to this program's (unless ``migrate`` is False:
    ``monitor db status`` looks without touching)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, parsed.database)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if migrate:
        try:
            migrations.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    return engine


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
