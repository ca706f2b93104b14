"""The JSON API's shapes (they make /openapi.json). Times are ISO 8601 UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from monitor.events import KINDS
from monitor.store.models import Capture, Event, Source, Version

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: a bigger id overflows in the driver (a 500), not a 404
KIND_PATTERN = f"^({'|'.join(KINDS)})$"
NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_only(value: object) -> object:
    """Pydantic reads numbers (and strings of digits) as Unix times; the schema promises
    ISO 8601 date-times, so ``since=0.5`` is an error, not 1970."""
    if isinstance(value, datetime) or (isinstance(value, str) and not NUMBER.fullmatch(value)):
        return value
    raise ValueError("give an ISO 8601 time with a time zone, e.g. 2025-01-15T12:00:00Z")


def _event_kind(value: object) -> object:
    if value != "*" and value not in KINDS:
        raise ValueError(f"{value!r} is not an event kind (use * or {', '.join(KINDS)})")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(lambda t: t.astimezone(UTC))]
MuteKind = Annotated[str, BeforeValidator(_event_kind),
                     WithJsonSchema({"type": "string", "enum": ["*", *KINDS]})]


class SourceOut(BaseModel):
    id: int
    url: str
    given_url: str
    title: str | None
    outlet: str | None
    state: str = Field(description="health, or paused / removed")
    health: str
    paused: bool
    paused_reason: str | None
    last_result: str | None
    last_check_at: datetime | None
    last_change_at: datetime | None
    next_check_at: datetime | None
    cited_at: datetime | None
    version_count: int
    muted_kinds: list[str]
    muted_until: datetime | None
    alerts: int = Field(0, description="unacknowledged, unmuted alert events")
    links: dict[str, str]

    @classmethod
    def of(cls, source: Source, state: str, alerts: int = 0) -> SourceOut:
        sid = source.id or 0
        return cls(
            id=sid, url=source.url, given_url=source.given_url, title=source.title,
            outlet=source.outlet, state=state, health=source.health, paused=source.paused,
            paused_reason=source.paused_reason, last_result=source.last_result,
            last_check_at=source.last_check_at, last_change_at=source.last_change_at,
            next_check_at=source.next_check_at, cited_at=source.cited_at,
            version_count=source.version_count, muted_kinds=list(source.muted_kinds),
            muted_until=source.muted_until, alerts=alerts,
            links={"page": f"/sources/{sid}", "versions": f"/api/sources/{sid}/versions",
                   "events": f"/api/events?source={sid}", "feed": f"/sources/{sid}/feed.atom",
                   "copy": f"/api/sources/{sid}/copy"},
        )


class TickOut(BaseModel):
    at: datetime
    kind: Literal["changed", "ok", "warn", "fail"]


class SourceDetail(SourceOut):
    evidence: dict[str, Any]
    previous_urls: list[str]
    history: list[TickOut] = Field(description="the last checks, oldest first")


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    title: str
    byline: str | None
    published: str | None
    modified: str | None
    first_seen: datetime
    last_seen: datetime
    seen_count: int
    capture_id: int | None
    fingerprint: str


class VersionText(VersionOut):
    text: str

    @classmethod
    def of(cls, version: Version) -> VersionText:
        return cls.model_validate(version)


class CaptureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    url: str
    final_url: str | None
    status: int | None
    error_class: str | None
    error: str | None
    outcome: str | None
    record_type: str | None
    payload_digest: str | None
    content_length: int | None
    warc_file: str | None
    version_id: int | None
    restorable: bool = False

    @classmethod
    def of(cls, capture: Capture, restorable: bool) -> CaptureOut:
        out = cls.model_validate(capture)
        out.restorable = restorable
        return out


class EventOut(BaseModel):
    id: str
    at: datetime
    kind: str
    severity: str
    source_id: int | None
    url: str | None
    summary: str
    details: dict[str, Any]
    acked_at: datetime | None

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(id=event.id, at=event.at, kind=event.kind, severity=event.severity,
                   source_id=event.source_id, url=event.url, summary=event.summary,
                   details=dict(event.details), acked_at=event.acked_at)


class ChangeOut(BaseModel):
    op: str = Field(description="equal, replace, insert or delete (one sentence each side)")
    before: str
    after: str


class DiffOut(BaseModel):
    source_id: int
    before: VersionOut
    after: VersionOut
    changed: bool
    severity: str
    classes: list[str]
    summary: str
    stats: dict[str, int]
    changes: list[ChangeOut] = Field(description="sentence blocks that differ")


class AddSource(BaseModel):
    url: str = Field(min_length=1, max_length=4096, pattern=r"^\s*[hH][tT][tT][pP][sS]?://[^/?#\s]",
                     description="an http(s) URL; refused (422) when its host is private or "
                     "does not resolve")
    title: str | None = Field(None, max_length=500)
    outlet: str | None = Field(None, max_length=200)
    cited_at: IsoTime | None = None


class MuteIn(BaseModel):
    kinds: list[MuteKind] = Field(["*"], min_length=1, description="event kinds, or * for all")
    until: IsoTime | None = Field(None, description="unmute then; none: until unmuted")


class AckIn(BaseModel):
    ids: list[str] = Field(default_factory=list, max_length=1000)
    source_id: int | None = Field(None, ge=1, le=MAX_ID, strict=True,  # true is not source #1
                                  description="acknowledge all of this source's events")


class AckOut(BaseModel):
    acknowledged: int


class CheckOut(BaseModel):
    source_id: int
    status: Literal["started", "done", "running"]
    summary: str | None = None
    events: list[EventOut] = Field(default_factory=list)


class Problem(BaseModel):
    detail: str
