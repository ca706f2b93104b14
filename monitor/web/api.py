"""The JSON API under /api: everything the dashboard does, for scripts and integrations.

Reads are open; writes need the token (auth.py). Its OpenAPI document is /openapi.json.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from monitor.archive.restore import find_copy
from monitor.web import actions, views
from monitor.web.archived import copy_response
from monitor.web.auth import require_writer
from monitor.web.deps import Db, Id, IdQuery, Web
from monitor.web.schemas import (
    KIND_PATTERN,
    MAX_ID,
    AckIn,
    AckOut,
    AddSource,
    CaptureOut,
    CheckOut,
    DiffOut,
    EventOut,
    IsoTime,
    MuteIn,
    Problem,
    SourceDetail,
    SourceOut,
    TickOut,
    VersionOut,
    VersionText,
)

ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "no such source, version, capture or event"},
    422: {"model": Problem, "description": "bad input (named in detail)"},
}
WRITE_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    401: {"model": Problem, "description": "no token given"},
    403: {"model": Problem, "description": "wrong token, or a cross-origin/CSRF-less write"},
}
BODY_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "the body could not be read (not UTF-8 JSON)"},
}
router = APIRouter(prefix="/api", responses=ERRORS)
writes = APIRouter(prefix="/api", dependencies=[Depends(require_writer)], responses=WRITE_ERRORS)
FormArg = Annotated[Literal["html", "text", "readable", "warc"], Query(alias="as")]


def _source_out(db: Db, source_id: int) -> SourceDetail:
    source = views.get_source(db, source_id)
    row = views.SourceRow(source)
    views.add_details(db, {source_id: row})
    base = SourceOut.of(source, row.state, row.alerts)
    return SourceDetail(**base.model_dump(), evidence=dict(source.evidence),
                        previous_urls=list(source.previous_urls),
                        history=[TickOut(at=t.at, kind=t.kind) for t in row.ticks])  # type: ignore[arg-type]


@router.get("/sources", response_model=list[SourceOut])
def list_sources(db: Db, state: Annotated[str, Query(pattern=views.HEALTH_PATTERN)] = "all",
                 q: Annotated[str, Query(max_length=200)] = "",
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> list[SourceOut]:
    """Sources (100 a page), with health, last check, last change and alert count."""
    rows, _ = views.source_rows(db, state, q, page)
    return [SourceOut.of(r.source, r.state, r.alerts) for r in rows]


@router.get("/sources/{source_id}", response_model=SourceDetail)
def get_source(db: Db, source_id: Id) -> SourceDetail:
    """One source with its evidence and its last checks."""
    return _source_out(db, source_id)


@router.get("/sources/{source_id}/versions", response_model=list[VersionOut])
def list_versions(db: Db, source_id: Id) -> list[VersionOut]:
    """The distinct extracted versions of the article, newest first."""
    source = views.get_source(db, source_id)
    return [VersionOut.model_validate(v) for v in views.versions(db, source)]


@router.get("/sources/{source_id}/versions/{number}", response_model=VersionText)
def get_version(db: Db, source_id: Id, number: Id) -> VersionText:
    """One version with its full text."""
    return VersionText.of(views.get_version(db, views.get_source(db, source_id), number))


@router.get("/sources/{source_id}/diff", response_model=DiffOut)
def get_diff(db: Db, source_id: Id,
             from_: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
             to: IdQuery = None) -> DiffOut:
    """What changed between two versions (default: the last change), sentence by sentence."""
    view = views.diff(db, views.get_source(db, source_id), from_, to)
    c = view.comparison
    return DiffOut(source_id=source_id, before=VersionOut.model_validate(view.before),
                   after=VersionOut.model_validate(view.after), changed=c.changed,
                   severity=c.severity, classes=list(c.classes), summary=c.summary,
                   stats=dict(c.stats),
                   changes=[{"op": b.op, "before": b.before, "after": b.after}  # type: ignore[misc]
                            for b in c.blocks if b.op != "equal"])


@router.get("/sources/{source_id}/captures", response_model=list[CaptureOut])
def list_captures(db: Db, source_id: Id,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[CaptureOut]:
    """The last fetches of the source, newest first; ``restorable`` ones have a copy."""
    found = views.captures(db, views.get_source(db, source_id), limit)
    keep = views.restorable_ids(db, [c.id for c in found if c.id is not None])
    return [CaptureOut.of(c, c.id in keep) for c in found]


@router.get("/sources/{source_id}/copy", response_class=Response,
            responses={200: {"content": {t: {} for t in ("text/html", "text/plain", "application/warc")},
                             "description": "the archived copy, as a file"}})
def source_copy(db: Db, web: Web, source_id: Id, form: FormArg = "html",
                at: Annotated[IsoTime | None, Query(description="latest copy at or before")] = None,
                ) -> Response:
    """Restore: the archived copy as it was at a time (default: the latest), as a download."""
    source = views.get_source(db, source_id)
    copy = find_copy(db, source, at)
    return copy_response(db, web.home, source, copy, form, download=True)


@router.get("/captures/{capture_id}/copy", response_class=Response,
            responses={200: {"content": {t: {} for t in ("text/html", "text/plain", "application/warc")},
                             "description": "the archived copy, as a file"}})
def capture_copy(db: Db, web: Web, capture_id: Id, form: FormArg = "html") -> Response:
    """The copy one capture stands for, as a download."""
    source, copy = views.copy_of_capture(db, capture_id)
    return copy_response(db, web.home, source, copy, form, download=True)


@router.get("/events", response_model=list[EventOut])
def list_events(db: Db, source: IdQuery = None,
                kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None,
                unacked: bool = False, since: Annotated[IsoTime | None, Query()] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[EventOut]:
    """Events, newest first; ``unacked``: alerts nobody has acknowledged."""
    found = views.events(db, source_id=source, kind=kind, unacked=unacked, since=since, limit=limit)
    return [EventOut.of(e) for e in found]


@writes.post("/sources", response_model=SourceOut, status_code=201, responses={
    **BODY_ERRORS, 200: {"model": SourceOut, "description": "already watched (resumed if it was paused)"}})
async def add_source(db: Db, web: Web, body: AddSource, response: Response) -> SourceOut:
    """Watch a URL. Refused (422) when it points at a private or loopback address."""
    source, new = await actions.add(db, web.home, body.url, web.now(), title=body.title,
                                    outlet=body.outlet, cited_at=body.cited_at)
    if not new:
        response.status_code = 200
    return SourceOut.of(source, "new" if new else source.health)


@writes.delete("/sources/{source_id}", status_code=204, response_class=Response)
def remove_source(db: Db, web: Web, source_id: Id, purge: bool = False) -> Response:
    """Stop watching; its history stays restorable unless ``purge``."""
    actions.remove(db, views.get_source(db, source_id), web.now(), purge=purge)
    return Response(status_code=204)


@writes.post("/sources/{source_id}/pause", response_model=SourceOut)
def pause_source(db: Db, web: Web, source_id: Id) -> SourceOut:
    source = views.get_source(db, source_id)
    actions.pause(db, source, web.now(), True)
    return SourceOut.of(source, "paused")


@writes.post("/sources/{source_id}/resume", response_model=SourceOut)
def resume_source(db: Db, web: Web, source_id: Id) -> SourceOut:
    source = views.get_source(db, source_id)
    actions.pause(db, source, web.now(), False)
    return SourceOut.of(source, source.health)


@writes.post("/sources/{source_id}/check", response_model=CheckOut,
             responses={202: {"model": CheckOut, "description": "started (or already running)"}})
async def check_now(db: Db, web: Web, source_id: Id, response: Response,
                    wait: Annotated[bool, Query(description="wait for the result")] = False) -> CheckOut:
    """Check a source now (also a paused one). ``wait``: answer with its events."""
    views.get_source(db, source_id)
    if source_id in web.runner.running:
        response.status_code = 202
        return CheckOut(source_id=source_id, status="running")
    task = await web.runner.start([source_id])
    if not wait:
        response.status_code = 202
        return CheckOut(source_id=source_id, status="started")
    summary = await asyncio.shield(task)
    events = [e for o in summary.outcomes for e in o.events]
    return CheckOut(source_id=source_id, status="done", summary=summary.line(),
                    events=[EventOut.of(e) for e in events])


@writes.post("/sources/{source_id}/mute", response_model=SourceOut, responses=BODY_ERRORS)
def mute_source(db: Db, source_id: Id, body: MuteIn) -> SourceOut:
    """Mute event kinds of a source: still recorded, not notified or counted as alerts."""
    source = views.get_source(db, source_id)
    actions.mute(db, source, body.kinds, body.until)
    return SourceOut.of(source, source.health)


@writes.delete("/sources/{source_id}/mute", response_model=SourceOut)
def unmute_source(db: Db, source_id: Id) -> SourceOut:
    source = views.get_source(db, source_id)
    actions.unmute(db, source)
    return SourceOut.of(source, source.health)


@writes.post("/events/ack", response_model=AckOut, responses=BODY_ERRORS)
def ack_events(db: Db, web: Web, body: AckIn) -> AckOut:
    """Acknowledge events by id, or all of one source's."""
    # An unknown source is a 404 before anything is acknowledged, not after the ids were.
    source = views.get_source(db, body.source_id) if body.source_id is not None else None
    count = actions.ack(db, body.ids, web.now()) if body.ids else 0
    if source is not None:
        count += actions.ack_source(db, source.id or 0, web.now())
    return AckOut(acknowledged=count)


@writes.post("/events/{event_id}/ack", response_model=EventOut)
def ack_event(db: Db, web: Web, event_id: str) -> EventOut:
    event = views.get_event(db, event_id)
    actions.ack(db, [event_id], web.now())
    db.refresh(event)
    return EventOut.of(event)

