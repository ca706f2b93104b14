"""The Atom feed of events: all, per source (/sources/ID/feed.atom), per kind (?kind=).

Built with feedgen (RFC 4287 output, escaping done right); each entry links to the page
that explains it: the diff for a change, the source page otherwise.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from feedgen.feed import FeedGenerator

from monitor.store.models import Event, Source
from monitor.web import views
from monitor.web.deps import Db, Id
from monitor.web.schemas import KIND_PATTERN

router = APIRouter(include_in_schema=False)
ATOM = "application/atom+xml; charset=utf-8"
KindArg = Annotated[str | None, Query(pattern=KIND_PATTERN)]


@router.get("/feed.atom")
def all_events(request: Request, db: Db, kind: KindArg = None) -> Response:
    found = views.events(db, kind=kind, limit=100)
    title = f"Source monitor: {kind} events" if kind else "Source monitor: all events"
    return _feed(request, db, found, title, None)


@router.get("/sources/{source_id}/feed.atom")
def source_events(request: Request, db: Db, source_id: Id, kind: KindArg = None) -> Response:
    source = views.get_source(db, source_id)
    found = views.events(db, source_id=source_id, kind=kind, limit=100)
    return _feed(request, db, found, f"Source monitor: {source.title or source.url}", source)


def _feed(request: Request, db: Db, events: list[Event], title: str, source: Source | None) -> Response:
    base = str(request.base_url).rstrip("/")
    feed = FeedGenerator()
    feed.id(str(request.url))
    feed.title(title)
    feed.link(href=str(request.url), rel="self", type="application/atom+xml")
    feed.link(href=f"{base}/sources/{source.id}" if source else f"{base}/", rel="alternate",
              type="text/html")
    feed.generator("source-monitor")
    feed.updated(events[0].at if events else (source.created_at if source else views.epoch()))
    titles = views.titles(db, {e.source_id for e in events if e.source_id is not None})
    for event in reversed(events):  # feedgen prepends: add oldest first, newest ends on top
        entry = feed.add_entry()
        entry.id(f"{base}/events/{event.id}")
        name = titles.get(event.source_id or 0) or event.url or "all sources"
        entry.title(f"{event.kind}: {name}")
        entry.summary(event.summary)
        entry.updated(event.at)
        entry.published(event.at)
        entry.category(term=event.kind)
        entry.category(term=f"severity:{event.severity}")
        entry.link(href=base + _page_of(event), rel="alternate", type="text/html")
    return Response(feed.atom_str(pretty=True), media_type=ATOM)


def _page_of(event: Event) -> str:
    if event.kind == "changed" and event.source_id and event.details.get("version_numbers"):
        before, after = event.details["version_numbers"][:2]
        return f"/sources/{event.source_id}/diff?from={before}&to={after}"
    if event.source_id:
        return f"/sources/{event.source_id}"
    return "/events"
