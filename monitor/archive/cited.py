"""The copy nearest the time a source was cited: ours, or a public archive's.

A writer cites an article at ``cited_at``; ``monitor diff SOURCE --from cited`` compares
what the reader could see then with what the page says now. Our own version that was
current at ``cited_at`` is used when we had checked the page by then. When we first looked
later (or the link died before we ever saw it), the nearer in time of our first version
and the public mementos found through the Memento aggregator is used; a public memento
is fetched raw (``id_``) and extracted like any capture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from monitor.archive.public import Memento, MementoLookup, PublicArchiveError, nearest
from monitor.clock import iso
from monitor.compare import ArticleContent
from monitor.extract import Extractor
from monitor.settings import Settings
from monitor.store.models import Capture, Source, Version
from monitor.versions import content_of


class NoCitedCopy(LookupError):
    """Neither we nor a public archive hold a copy to compare with."""


@dataclass(frozen=True)
class CitedCopy:
    """The article as it stood near ``cited_at``, and where that copy came from."""

    content: ArticleContent
    at: datetime  # when the copy was captured
    label: str  # "our version 2 (captured …)" or "public copy web.archive.org, captured …: URI-M"
    version: Version | None = None
    memento: Memento | None = None
    notes: list[str] = field(default_factory=list)  # why a public copy was not used, if it was not


@dataclass(frozen=True)
class _Ours:
    version: Version
    capture: Capture

    def copy(self, notes: list[str]) -> CitedCopy:
        label = f"our version {self.version.number} (captured {iso(self.capture.at)})"
        return CitedCopy(content_of(self.version), self.capture.at, label, version=self.version,
                         notes=notes)


def our_copy_at(db: Session, source: Source, at: datetime) -> _Ours | None:
    """Our version current at ``at``: the one the latest capture at or before ``at`` showed."""
    query = _with_version(source).where(col(Capture.at) <= at).order_by(col(Capture.at).desc())
    return _first(db, query)


def our_first_copy_after(db: Session, source: Source, at: datetime) -> _Ours | None:
    query = _with_version(source).where(col(Capture.at) > at).order_by(col(Capture.at))
    return _first(db, query)


def _with_version(source: Source) -> Select[Capture, Version]:
    """Captures of ``source`` that showed a version (a new one, or one seen again)."""
    return (select(Capture, Version).join(Version, col(Version.id) == col(Capture.version_id))
            .where(col(Capture.source_id) == source.id))


def _first(db: Session, query: Select[Capture, Version]) -> _Ours | None:
    row = db.exec(query.limit(1)).first()
    return _Ours(row[1], row[0]) if row is not None else None


async def cited_copy(
    settings: Settings, db: Session, source: Source, extractor: Extractor,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CitedCopy:
    """The copy nearest ``source.cited_at`` (see the module docstring for the choice)."""
    cited = source.cited_at
    if cited is None:
        raise NoCitedCopy(f"#{source.id} {source.url} has no cited_at: set it with "
                          "'monitor add URL --cited-at T' or cited_at in sources.toml")
    ours = our_copy_at(db, source, cited)
    if ours is not None:
        return ours.copy([])
    first = our_first_copy_after(db, source, cited)
    notes: list[str] = []
    public = await _public_copy(settings, source, cited, first, extractor, transport, notes)
    if public is not None:
        return public
    if first is None:
        raise NoCitedCopy(f"#{source.id} {source.url}: no copy near cited {iso(cited)}: we never "
                          "stored a version" + (f" ({'; '.join(notes)})" if notes else ""))
    return first.copy(notes)


async def _public_copy(
    settings: Settings, source: Source, cited: datetime, first: _Ours | None, extractor: Extractor,
    transport: httpx.AsyncBaseTransport | None, notes: list[str],
) -> CitedCopy | None:
    """The nearest public memento, when it is nearer to ``cited`` than our first version."""
    if not settings.public.lookup:
        notes.append("public lookup is off (public.lookup)")
        return None
    try:
        async with MementoLookup(settings, transport) as lookup:
            copies = await _public_copies(lookup, source)
            memento = nearest(copies, cited)
            if memento is None:
                notes.append(f"no public copy of {source.url}")
                return None
            if first is not None and abs(first.capture.at - cited) <= abs(memento.at - cited):
                return None
            body = await lookup.fetch_raw(memento)
    except PublicArchiveError as exc:
        notes.append(str(exc))
        return None
    content = await extractor.extract(body, source.url)
    if content is None:
        notes.append(f"the public copy {memento.uri} has no article text")
        return None
    label = f"public copy {memento.archive}, captured {iso(memento.at)}: {memento.uri}"
    return CitedCopy(content, memento.at, label, memento=memento, notes=notes)


async def public_copy_bytes(
    settings: Settings, source: Source, at: datetime | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[Memento, bytes]:
    """A public archive's copy of ``source`` as raw bytes, for ``restore --public``.

    The latest memento at or before ``at`` (default: ``cited_at``; neither: the newest),
    else the earliest after it. Raises :class:`PublicArchiveError` when there is none.
    """
    if not settings.public.lookup:
        raise PublicArchiveError("public lookup is off (public.lookup = false)")
    when = at or source.cited_at
    async with MementoLookup(settings, transport) as lookup:
        copies = await _public_copies(lookup, source)
        if not copies:
            raise PublicArchiveError(f"no public copy of {source.url} (asked {settings.public.aggregator})")
        before = [m for m in copies if when is None or m.at <= when]
        memento = before[-1] if before else copies[0]
        return memento, await lookup.fetch_raw(memento)


async def _public_copies(lookup: MementoLookup, source: Source) -> list[Memento]:
    """Mementos of the source's URL, or of the URL as the writer gave it (archives may not
    canonicalise the way we do)."""
    copies = await lookup.find_public_copies(source.url)
    if not copies and source.given_url and source.given_url != source.url:
        copies = await lookup.find_public_copies(source.given_url)
    return copies
