"""``monitor db upgrade | status``: the database schema, for the operator.

Every command upgrades the schema when it opens the database; on PostgreSQL an operator runs
``monitor db upgrade`` once before starting workers, and ``monitor db status`` to see where a
database stands without changing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from monitor.cli import app, console, fail

if TYPE_CHECKING:
    from sqlalchemy import Engine

db_app = typer.Typer(name="db", help="The database schema: its revision and upgrades.",
                     no_args_is_help=True)
app.add_typer(db_app)


@db_app.command()
def upgrade(ctx: typer.Context) -> None:
    """Bring the database to this program's schema; prints the revision it came from and went to."""
    from monitor.store import migrations

    with _engine(ctx) as engine:
        url = engine.url.render_as_string(hide_password=True)
        done = migrations.upgrade(engine)
    if not done.applied:
        console.print(f"{url}: already at {done.after} (head), nothing to do", highlight=False,
                      soft_wrap=True)
        return
    start = (f"a database made before migrations (adopted at {migrations.BASELINE_REVISION})"
             if done.adopted else done.before or "an empty database")
    console.print(f"{url}: upgraded from {start} to {done.after}", highlight=False, soft_wrap=True)
    for revision in done.applied:
        console.print(f"  applied {_named(revision)}", highlight=False, soft_wrap=True)


@db_app.command()
def status(ctx: typer.Context) -> None:
    """The database's schema revision, this program's newest, and what an upgrade would apply."""
    from monitor.store import migrations

    with _engine(ctx) as engine:
        url = engine.url.render_as_string(hide_password=True)
        found = migrations.status(engine)
    current = ("none: made before migrations (an upgrade adopts it at the baseline)"
               if found.pre_alembic else _named(found.current) if found.current else "none: empty")
    console.print(f"database  {url}\ncurrent   {current}\nhead      {_named(found.head)}",
                  highlight=False, soft_wrap=True)
    if not found.pending:
        console.print("pending   none: up to date", highlight=False)
    for number, revision in enumerate(found.pending):
        console.print(f"{'pending' if number == 0 else '':<9} {_named(revision)}", highlight=False,
                      soft_wrap=True)


def _named(revision: str | None) -> str:
    from monitor.store import migrations

    return f"{revision} ({migrations.describe(revision)})" if revision else "none"


@contextmanager
def _engine(ctx: typer.Context) -> Iterator[Engine]:
    """The home's database, opened without upgrading it."""
    from monitor.config import ConfigError
    from monitor.home import open_home
    from monitor.store.migrations import SchemaError

    try:
        home = open_home(ctx.obj.home, migrate=False)
    except ConfigError as exc:
        fail(str(exc))
    try:
        yield home.engine
    except SchemaError as exc:
        fail(str(exc))
    finally:
        home.engine.dispose()
