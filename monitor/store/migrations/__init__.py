"""Schema migrations (Alembic), run from code: no alembic.ini, no separate tool.

Every process that opens the database calls :func:`upgrade`, so it must be cheap when nothing
is pending (one read of ``alembic_version``, no schema comparison) and safe when many processes
start at once: the migration runs in one transaction holding a lock (PostgreSQL: a transaction
advisory lock; SQLite: the write lock of ``BEGIN IMMEDIATE``), and the one that waited finds
the work done. ``monitor db upgrade | status`` (monitor/cli/db.py) are the operator's view.

A new schema change is a new file in ``versions/`` (next number, ``down_revision`` the last
one), with ``models.py`` changed in step; tests/test_migrations.py fails when they disagree.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, inspect, text

log = logging.getLogger(__name__)

BASELINE_REVISION = "0001"
# one advisory lock key for "monitor's schema", the same in every process (a signed bigint)
LOCK_KEY = zlib.crc32(b"monitor.store.migrations")
_HERE = Path(__file__).resolve().parent


class SchemaError(RuntimeError):
    """The database's schema is one this program cannot bring to its own."""


@dataclass(frozen=True)
class Status:
    current: str | None  # None: empty, or made before Alembic (``pre_alembic``)
    head: str
    pending: list[str]  # revisions an upgrade would apply, in order
    pre_alembic: bool  # the released tables without alembic_version: adopted on upgrade


@dataclass(frozen=True)
class Upgraded:
    before: str | None
    after: str
    adopted: bool  # a pre-Alembic database was brought to the baseline and stamped first
    applied: list[str]  # revisions this call applied after any adoption, in order (none: another
    #                     process had done it)


def head() -> str:
    found = _script().get_current_head()
    assert found is not None, f"no migrations in {_HERE / 'versions'}"
    return found


def describe(revision: str) -> str:
    """The first line of a revision's docstring: what it changes."""
    found = _script().get_revision(revision)
    return (found.doc or "").splitlines()[0] if found and found.doc else ""


def status(engine: Engine) -> Status:
    with engine.connect() as connection:
        current = _current(connection)
        pre_alembic = current is None and _has_released_tables(connection)
    return Status(current, head(), _pending(current), pre_alembic)


def upgrade(engine: Engine) -> Upgraded:
    """Bring the database to the newest revision (adopting a pre-Alembic one first)."""
    newest = head()
    with engine.connect() as connection:  # the common case: up to date, no lock taken
        current = _current(connection)
    if current == newest:
        return Upgraded(current, newest, adopted=False, applied=[])
    _pending(current)  # a revision this program does not know fails here, before any lock
    with _locked(engine) as connection:
        current = _current(connection)  # another process may have done it while we waited
        adopted = current is None and _has_released_tables(connection)
        applied = _pending(BASELINE_REVISION if adopted else current)
        if adopted:
            _adopt(connection)
            command.stamp(alembic_config(connection), BASELINE_REVISION)
        if current != newest:
            # a new database is no news; changing the schema of one holding data is
            level = logging.INFO if current or adopted else logging.DEBUG
            log.log(level, "upgrading the database schema from %s to %s",
                    current or ("before migrations" if adopted else "empty"), newest)
            command.upgrade(alembic_config(connection), "head")
    return Upgraded(current, newest, adopted, applied)


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(None))


def alembic_config(connection: Connection | None) -> Config:
    """Alembic's configuration, without alembic.ini: its commands run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(_HERE).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _pending(current: str | None) -> list[str]:
    try:
        revisions = list(_script().iterate_revisions("heads", current or "base"))
    except (CommandError, RevisionError) as exc:
        raise SchemaError(f"the database is at schema revision {current!r}, which this version "
                          f"of monitor does not know (a newer monitor migrated it?): {exc}") from exc
    return [r.revision for r in reversed(revisions) if r.revision != current]


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock until it commits."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # takes the database's write lock now (others wait busy_timeout), not at the first write
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield connection
        connection.commit()


def _has_released_tables(connection: Connection) -> bool:
    return inspect(connection).has_table("source")


def _baseline() -> MetaData:
    revision = _script().get_revision(BASELINE_REVISION)
    assert revision is not None and revision.module is not None
    baseline: MetaData = revision.module.BASELINE
    return baseline


def _adopt(connection: Connection) -> None:
    """Bring a database made before Alembic to the baseline schema, keeping every row.

    Before issue 7 each open created missing tables and added the columns and indexes a newer
    model declared, so such a database may lack anything added after it was made. This is that
    step, kept for those databases, run against the frozen baseline rather than today's models
    (later revisions then apply as usual).
    """
    baseline = _baseline()
    baseline.create_all(connection)  # only the missing tables
    inspector = inspect(connection)
    for table in baseline.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=connection.dialect)
            # NOT NULL where the baseline says so (the old step left it out; the values are there)
            required = "" if column.nullable else " NOT NULL"
            connection.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" '
                                    f'{kind}{_default_sql(column)}{required}'))
        for index in table.indexes:  # create_all makes indexes only with a new table
            index.create(connection, checkfirst=True)
    log.info("adopted a database made before schema migrations at revision %s", BASELINE_REVISION)


def _default_sql(column: Any) -> str:
    """What rows that predate a NOT NULL column get, as the pre-Alembic code gave them."""
    default = getattr(column.default, "arg", None)
    if isinstance(default, bool):
        return " DEFAULT TRUE" if default else " DEFAULT FALSE"  # both PostgreSQL and SQLite
    if isinstance(default, int | float):
        return f" DEFAULT {default}"
    if isinstance(default, str):
        return " DEFAULT '" + default.replace("'", "''") + "'"
    if not column.nullable:
        return f" DEFAULT '{column.info.get('empty', '')}'"
    return ""
