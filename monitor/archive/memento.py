"""Memento (RFC 7089): TimeMaps of archived URLs, and the URI-M of each archived copy.

A URI-M follows pywb's URL scheme: ``archive.replay_url`` + 14-digit UTC timestamp +
``/`` + the URL the WARC record is stored under (the capture's final URL), so with a
pywb collection named after the replay URL (``wb-manager add monitor archive/warc/*``)
every link replays. The TimeMap's own address and its TimeGate are pywb's too
(``…/timemap/link/URL`` and ``…/URL``) unless the caller — the web server — serves them.

Only WARC ``response`` and ``revisit`` records are mementos: a compact capture (a
``metadata`` record or the database row only) holds no HTTP response to replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from monitor.archive.linkformat import format_link, http_date
from monitor.archive.restore import holds_copy
from monitor.store.models import Capture, Source
from monitor.urls import BadURL, canonicalize

LINK_FORMAT = "application/link-format"
REPLAYABLE = ("response", "revisit")


class NoMementos(LookupError):
    """The URL is not one we archive, or nothing of it can be replayed."""


@dataclass(frozen=True)
class Memento:
    """One replayable archived copy: its time and its URI-M."""

    at: datetime
    uri: str
    capture_id: int


def timestamp14(when: datetime) -> str:
    """``YYYYMMDDhhmmss`` in UTC, as Wayback-style archives put it in a URI-M."""
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def uri_m(replay_url: str, when: datetime, url: str) -> str:
    """The address where the copy of ``url`` captured at ``when`` replays."""
    return f"{replay_url.rstrip('/')}/{timestamp14(when)}/{url}"


def memento_of(capture: Capture, replay_url: str) -> Memento:
    """``capture``'s memento: replayed under the URL its record is stored under."""
    return Memento(capture.at, uri_m(replay_url, capture.at, capture.final_url or capture.url),
                   capture.id or 0)


def source_for_url(db: Session, url: str) -> Source:
    """The source archiving ``url``: by canonical URL, URL as given, or a URL it moved from."""
    wanted = {url.strip()}
    with suppress(BadURL):
        wanted.add(canonicalize(url))
    found = db.exec(select(Source).where(
        or_(col(Source.url).in_(wanted), col(Source.given_url).in_(wanted)))).first()
    if found is not None:
        return found
    for source in db.exec(select(Source).order_by(col(Source.id))):
        if wanted.intersection(source.previous_urls):
            return source
    raise NoMementos(f"{url} is not an archived URL (see 'monitor status')")


def sources_by_url(db: Session) -> dict[str, Source]:
    """Every canonical URL a source answers for, previous ones included; a source watching
    a URL now wins over one that moved away from it."""
    sources = list(db.exec(select(Source).order_by(col(Source.id))).all())
    table = {old: source for source in sources for old in source.previous_urls}
    table.update({source.url: source for source in sources})
    return table


def mementos(db: Session, source: Source, replay_url: str, *, article_only: bool = False) -> list[Memento]:
    """Every replayable capture of ``source``, oldest first. ``article_only`` keeps those
    holding the article (no error pages, no soft 404s): what a reader should be sent to."""
    query = (select(Capture).where(col(Capture.source_id) == source.id)
             .where(col(Capture.record_type).in_(REPLAYABLE)).where(col(Capture.warc_file).is_not(None))
             .order_by(col(Capture.at), col(Capture.id)))
    if article_only:
        query = query.where(holds_copy())
    return [memento_of(capture, replay_url) for capture in db.exec(query)]


def timemap(
    original: str, found: Iterable[Memento], replay_url: str, *,
    self_url: str | None = None, timegate_url: str | None = None,
) -> str:
    """The TimeMap of ``original`` in application/link-format (RFC 7089, section 5)."""
    ordered = sorted(found, key=lambda m: (m.at, m.capture_id))
    if not ordered:
        raise NoMementos(f"nothing of {original} can be replayed")
    base = replay_url.rstrip("/")
    links = [
        format_link(original, rel="original"),
        format_link(self_url or f"{base}/timemap/link/{original}", rel="self", type=LINK_FORMAT,
                    **{"from": http_date(ordered[0].at)}, until=http_date(ordered[-1].at)),
        format_link(timegate_url or f"{base}/{original}", rel="timegate"),
    ]
    for index, memento in enumerate(ordered):
        links.append(format_link(memento.uri, rel=_memento_rel(index, len(ordered)),
                                 datetime=http_date(memento.at)))
    return ",\n".join(links) + "\n"


def _memento_rel(index: int, count: int) -> str:
    first, last = index == 0, index == count - 1
    return " ".join([*(["first"] if first else []), *(["last"] if last else []), "memento"])


def timemap_for(db: Session, url: str, replay_url: str) -> tuple[str, int]:
    """The TimeMap for an archived ``url`` and how many mementos it lists."""
    source = source_for_url(db, url)
    found = mementos(db, source, replay_url)
    return timemap(source.url, found, replay_url), len(found)
