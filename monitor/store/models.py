"""The tables (DESIGN.md, "Data model"): Source, Capture, Version, Event.

Times are stored as naive UTC and handed back timezone-aware (``UTCDateTime``),
so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _time(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Source(SQLModel, table=True):
    """A cited URL being watched, with its schedule, validators and link health."""

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(index=True, unique=True)
    given_url: str = ""
    title: str | None = None
    outlet: str | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    origin: str = "cli"  # config | cli | import
    paused: bool = False
    paused_reason: str | None = None  # user | removed | removed-from-config
    # muted event kinds ("*": all) are recorded but neither notified nor shown as alerts
    muted_kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    muted_until: datetime | None = _time()  # None with muted_kinds: until unmuted
    interval_s: int | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    cited_at: datetime | None = _time()
    next_check_at: datetime | None = _time(index=True)
    lease_until: datetime | None = _time()
    lease_owner: str | None = None  # "host:pid" holding the lease; freed on start once it is gone
    last_check_at: datetime | None = _time()
    last_change_at: datetime | None = _time()
    # link health (monitor/health): state, since when, and the evidence behind it
    health: str = "new"
    last_result: str | None = None  # the last check's signal (ok, gone, dns …) or "offline"
    health_since: datetime | None = _time()
    first_failure_at: datetime | None = _time()
    last_failure_at: datetime | None = _time()
    consecutive_failures: int = 0
    evidence: dict[str, Any] = _json()
    previous_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # conditional GET and revisits
    etag: str | None = None
    last_modified: str | None = None
    last_payload_digest: str | None = None
    # digest of the bytes extraction read for the current version (monitor/extract.py fast path)
    extract_input_digest: str | None = None
    last_response_capture_id: int | None = None
    validators_capture_id: int | None = None  # the 2xx response our etag/last_modified came from
    current_version_id: int | None = None
    version_count: int = 0


class Capture(SQLModel, table=True):
    """One fetch: what came back and where its WARC records live."""

    __table_args__ = (Index("ix_capture_source_at", "source_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    url: str
    final_url: str | None = None
    status: int | None = None
    error_class: str | None = None
    error: str | None = None
    elapsed_ms: int = 0
    redirects: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    payload_digest: str | None = None
    content_length: int | None = None
    record_type: str | None = None  # response | revisit | None (nothing stored)
    record_id: str | None = None
    warc_file: str | None = Field(default=None, index=True)
    warc_offset: int | None = None
    warc_length: int | None = None
    request_offset: int | None = None
    request_length: int | None = None
    refers_to_capture_id: int | None = None
    version_id: int | None = None
    outcome: str | None = None  # the health observation: ok, gone, unreachable, …


class Version(SQLModel, table=True):
    """One distinct extracted content of a source."""

    __table_args__ = (Index("ix_version_source_number", "source_id", "number", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    number: int
    fingerprint: str = Field(index=True)
    title: str = ""
    byline: str | None = None
    published: str | None = None
    modified: str | None = None
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    seen_count: int = 1
    capture_id: int | None = None


class Event(SQLModel, table=True):
    """Something that happened: what users read and integrations consume."""

    __table_args__ = (Index("ix_event_at", "at"),)

    id: str = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(index=True)
    severity: str = "info"
    source_id: int | None = Field(default=None, index=True)
    url: str | None = None
    summary: str = ""
    details: dict[str, Any] = _json()
    version_before: int | None = None
    version_after: int | None = None
    acked_at: datetime | None = _time()  # a person has seen it (dashboard or API)
    # notifications (monitor/notify): "pending" until one pass considers it, then "queued" (in a
    # Notification) or "skipped-<why>". The column has no SQL default, so events from before
    # notifications existed read NULL: already told, never sent.
    notify_state: str | None = Field(
        default="pending", sa_column=Column(String(), nullable=True, index=True))


class Host(SQLModel, table=True):
    """What the monitor knows about one host (authority): its back-off and its dead end.

    ``backoff_until`` is set from a 429/503 (its Retry-After); no source of the host is
    fetched before it. ``probe`` is the cached Bar-Yossef probe (monitor/health/probe.py):
    how the host answers a path that cannot exist.
    """

    host: str = Field(primary_key=True)
    backoff_until: datetime | None = _time()
    backoff_reason: str | None = None
    probe_at: datetime | None = _time()
    probe: dict[str, Any] = _json()


class PublicCopy(SQLModel, table=True):
    """A copy of one version in a public web archive (Save Page Now), or the attempt to make one.

    ``status``: ``pending`` (to submit when ``next_attempt_at`` comes, or submitted as
    ``job_id`` and not done yet), ``saved`` (``uri_m`` is the public copy), ``failed``
    (retried at ``next_attempt_at``; None: given up or superseded by a newer version).
    """

    __table_args__ = (Index("ix_publiccopy_version_archive", "version_id", "archive", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    version_id: int = Field(foreign_key="version.id")
    archive: str  # the archive's host, e.g. web.archive.org
    url: str  # the URL submitted
    status: str = Field(default="pending", index=True)
    job_id: str | None = None
    uri_m: str | None = None
    memento_at: datetime | None = _time()
    attempts: int = 0
    last_error: str | None = None
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime | None = _time()


class Notification(SQLModel, table=True):
    """One message to one notifier: a pass's events of one kind (monitor/notify/outbox.py).

    ``target`` is the notifier's redacted label, never its URL. ``status``: ``pending`` (to send
    when ``next_attempt_at`` comes), ``sending`` (claimed by a process until ``next_attempt_at``),
    ``sent``, ``failed`` (retried at ``next_attempt_at``), ``given-up`` (too many attempts, or the
    notifier is no longer configured), ``dropped`` (all its events were acknowledged or muted
    before it went out).
    """

    __table_args__ = (Index("ix_notification_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    target: str
    kind: str
    event_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = ""
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = _time()
    last_error: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = _time()
