"""Alembic's environment: migrations run on the connection ``monitor.store.migrations`` opened.

There is no alembic.ini and no URL here: the caller passes its connection (already inside a
transaction and holding the migration lock) as ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

from monitor.store import models  # noqa: F401  (registers the tables)

if context.is_offline_mode():
    raise SystemExit("monitor's migrations run online only (monitor db upgrade); no SQL scripts")

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise SystemExit("monitor's migrations need a connection: run them through monitor db upgrade")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things: batch mode copies the table instead where needed
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
