"""baseline: the schema as released with issue 6 (commit afc39b3), before Alembic

Databases made by that code have these tables and no ``alembic_version``; opening one brings it
to this schema with the old additive step and stamps it here (``monitor.store.migrations``).

The tables are declared once, as ``BASELINE``, because that adoption step needs them as well as
``upgrade()``. They are a frozen copy: never edit them, add a revision instead. Column defaults
(``default=``, ``info["empty"]``) are not part of the DDL; they say what the adoption step puts
into rows that predate a NOT NULL column, as the pre-Alembic code did.

Revision ID: 0001
Revises:
Create Date: 2025-06-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BASELINE = sa.MetaData()


def _str(name: str, nullable: bool = True, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.String(), nullable=nullable, **kw)


def _int(name: str, nullable: bool = True, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=nullable, **kw)


def _time(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(), nullable=nullable)  # naive UTC (models.UTCDateTime)


def _json(name: str, empty: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(), nullable=False, info={"empty": empty})


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.Integer(), primary_key=True, nullable=False)


sa.Table(
    "source", BASELINE,
    _id(),
    _str("url", False),
    _str("given_url", False, default=""),
    _str("title"),
    _str("outlet"),
    _json("tags", "[]"),
    _str("origin", False, default="cli"),
    sa.Column("paused", sa.Boolean(), nullable=False, default=False),
    _str("paused_reason"),
    _json("muted_kinds", "[]"),
    _time("muted_until"),
    _int("interval_s"),
    _time("created_at", False),
    _time("cited_at"),
    _time("next_check_at"),
    _time("lease_until"),
    _str("lease_owner"),
    _time("last_check_at"),
    _time("last_change_at"),
    _str("health", False, default="new"),
    _str("last_result"),
    _time("health_since"),
    _time("first_failure_at"),
    _time("last_failure_at"),
    _int("consecutive_failures", False, default=0),
    _json("evidence", "{}"),
    _json("previous_urls", "[]"),
    _str("etag"),
    _str("last_modified"),
    _str("last_payload_digest"),
    _int("last_response_capture_id"),
    _int("validators_capture_id"),
    _int("current_version_id"),
    _int("version_count", False, default=0),
    sa.Index("ix_source_url", "url", unique=True),
    sa.Index("ix_source_next_check_at", "next_check_at"),
)

sa.Table(
    "capture", BASELINE,
    _id(),
    _int("source_id", False),
    _time("at", False),
    _str("url", False),
    _str("final_url"),
    _int("status"),
    _str("error_class"),
    _str("error"),
    _int("elapsed_ms", False, default=0),
    _json("redirects", "[]"),
    _str("payload_digest"),
    _int("content_length"),
    _str("record_type"),
    _str("record_id"),
    _str("warc_file"),
    _int("warc_offset"),
    _int("warc_length"),
    _int("request_offset"),
    _int("request_length"),
    _int("refers_to_capture_id"),
    _int("version_id"),
    _str("outcome"),
    sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
    sa.Index("ix_capture_source_at", "source_id", "at"),
    sa.Index("ix_capture_warc_file", "warc_file"),
)

sa.Table(
    "version", BASELINE,
    _id(),
    _int("source_id", False),
    _int("number", False),
    _str("fingerprint", False),
    _str("title", False, default=""),
    _str("byline"),
    _str("published"),
    _str("modified"),
    sa.Column("text", sa.Text(), nullable=False, default=""),
    _time("first_seen", False),
    _time("last_seen", False),
    _int("seen_count", False, default=1),
    _int("capture_id"),
    sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
    sa.Index("ix_version_fingerprint", "fingerprint"),
    sa.Index("ix_version_source_number", "source_id", "number", unique=True),
)

sa.Table(
    "event", BASELINE,
    _str("id", False, primary_key=True),
    _time("at", False),
    _str("kind", False),
    _str("severity", False, default="info"),
    _int("source_id"),
    _str("url"),
    _str("summary", False, default=""),
    _json("details", "{}"),
    _int("version_before"),
    _int("version_after"),
    _time("acked_at"),
    # no SQL default on purpose: events from before notifications read NULL (already told)
    _str("notify_state"),
    sa.Index("ix_event_at", "at"),
    sa.Index("ix_event_kind", "kind"),
    sa.Index("ix_event_notify_state", "notify_state"),
    sa.Index("ix_event_source_id", "source_id"),
)

sa.Table(
    "host", BASELINE,
    _str("host", False, primary_key=True),
    _time("backoff_until"),
    _str("backoff_reason"),
    _time("probe_at"),
    _json("probe", "{}"),
)

sa.Table(
    "publiccopy", BASELINE,
    _id(),
    _int("source_id", False),
    _int("version_id", False),
    _str("archive", False),
    _str("url", False),
    _str("status", False, default="pending"),
    _str("job_id"),
    _str("uri_m"),
    _time("memento_at"),
    _int("attempts", False, default=0),
    _str("last_error"),
    _time("requested_at", False),
    _time("next_attempt_at"),
    sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
    sa.ForeignKeyConstraint(["version_id"], ["version.id"]),
    sa.Index("ix_publiccopy_source_id", "source_id"),
    sa.Index("ix_publiccopy_status", "status"),
    sa.Index("ix_publiccopy_version_archive", "version_id", "archive", unique=True),
)

sa.Table(
    "notification", BASELINE,
    _id(),
    _str("target", False),
    _str("kind", False),
    _json("event_ids", "[]"),
    _str("title", False, default=""),
    sa.Column("body", sa.Text(), nullable=False, default=""),
    _str("status", False, default="pending"),
    _int("attempts", False, default=0),
    _time("next_attempt_at"),
    _str("last_error"),
    _time("created_at", False),
    _time("sent_at"),
    sa.Index("ix_notification_due", "status", "next_attempt_at"),
)


def upgrade() -> None:
    BASELINE.create_all(op.get_bind())


def downgrade() -> None:
    BASELINE.drop_all(op.get_bind())
