"""The database: engine, schema creation and additive upgrades, sessions.

SQLite is the embedded default (WAL, so the daemon and a ``monitor check`` can
work side by side); any SQLAlchemy URL works through ``MONITOR_DATABASE_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine.url import make_url
from sqlmodel import Session, SQLModel, create_engine

from monitor.store import models  # noqa: F401  (registers the tables)

SCHEMA_VERSION = 1


def open_engine(url: str) -> Engine:
    """An engine for ``url``, with the tables created or upgraded to this program's schema."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, parsed.database)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    upgrade(engine)
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


def upgrade(engine: Engine) -> None:
    """Create missing tables, then add columns a newer model declares (additive upgrades only)."""
    SQLModel.metadata.create_all(engine)
    inspector = inspect(engine)
    with engine.begin() as connection:
        for table in SQLModel.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = _default_sql(column)
                connection.execute(
                    text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{default}')
                )
            for index in table.indexes:  # create_all makes indexes only with a new table
                index.create(connection, checkfirst=True)


def _default_sql(column: Any) -> str:
    default = getattr(column.default, "arg", None)
    if isinstance(default, bool):
        return f" DEFAULT {int(default)}"
    if isinstance(default, int | float):
        return f" DEFAULT {default}"
    if isinstance(default, str):
        return " DEFAULT '" + default.replace("'", "''") + "'"
    if not column.nullable:
        return " DEFAULT '[]'" if "JSON" in str(column.type) else " DEFAULT ''"
    return ""


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
