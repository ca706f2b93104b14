"""Alembic's environment: migrations run on the connection ``monitor.store.migrations`` opened.

There is no alembic.ini and no URL here: the caller passes its connection (already inside a
transaction and holding the migration lock) as ``config.attributes["connection"]``.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from monitor.store import models  # registers the tables

if context.is_offline_mode():
    raise SystemExit("monitor's migrations run online only (monitor db upgrade); no SQL scripts")

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise SystemExit("monitor's migrations need a connection: run them through monitor db upgrade")



def _plain_types(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Drafted revisions use plain SQLAlchemy types: the models' own store the same thing."""
    if kind == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    if kind == "type" and isinstance(obj, models.UTCDateTime):
        return "sa.DateTime()"  # naive UTC; UTCDateTime only converts in Python
    return False


context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things: batch mode copies the table instead where needed
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=_plain_types,
)
with context.begin_transaction():
    context.run_migrations()
