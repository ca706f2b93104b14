"""Restoring an archived copy: the exact bytes of a stored response, its article text,
a clean readable page, or its WARC records, as of a point in time (``--at T`` = latest
capture at or before T).

A capture "holds" a copy when its content can be recovered: a full response, a revisit
(its bytes are those of the response it refers to), or a compact capture (a WARC
``metadata`` record or the database row only) that names the response it matched. A
compact capture proves the article was unchanged at its own time, so it is the copy
"captured at" that time, "unchanged since" the response it refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from monitor.archive.readable import render_readable
from monitor.archive.warc import WarcArchive
from monitor.check import stored_of
from monitor.clock import iso
from monitor.store.models import Capture, Source, Version

Form = Literal["html", "text", "readable", "warc"]
FORMS: tuple[Form, ...] = ("html", "text", "readable", "warc")
EXTENSIONS: dict[Form, str] = {"html": ".html", "text": ".txt", "readable": ".html", "warc": ".warc.gz"}
# 2xx pages that are not the article (monitor/health/signals.py): a "not found" page served
# with 200, a redirect to the front page, another article at the URL. Never a copy of it.
NOT_THE_ARTICLE = ("soft404", "homepage", "drift")
_MAX_HOPS = 8  # a compact capture → revisit → response chain is two hops; more is a loop


class NothingArchived(LookupError):
    """No stored copy of that source at or before the time asked for."""


@dataclass(frozen=True)
class Restored:
    capture: Capture  # the capture that stands for the article at the time (any record type)
    original: Capture  # the capture whose response record holds the payload
    version: Version | None

    @property
    def unchanged_since(self) -> datetime | None:
        """When the stored payload was captured, if this copy stands on an earlier response."""
        return None if self.original.id == self.capture.id else self.original.at


def holds_copy() -> ColumnElement[bool]:
    """SQL condition: the capture's article content is recoverable from the archive."""
    ok = and_(col(Capture.status) >= 200, col(Capture.status) < 300)
    full = and_(col(Capture.record_type) == "response", ok)
    # revisits (a 304's too) and compact captures stand for the response they refer to
    pointing = and_(col(Capture.refers_to_capture_id).is_not(None), or_(ok, col(Capture.status) == 304))
    article = or_(col(Capture.outcome).is_(None), col(Capture.outcome).not_in(NOT_THE_ARTICLE))
    return and_(or_(full, pointing), article)


def find_copy(db: Session, source: Source, at: datetime | None) -> Restored:
    """The latest capture at or before ``at`` whose article content can be restored."""
    query = (
        select(Capture).where(col(Capture.source_id) == source.id).where(holds_copy())
        .order_by(col(Capture.at).desc(), col(Capture.id).desc())
    )
    if at is not None:
        query = query.where(col(Capture.at) <= at)
    for capture in db.exec(query):
        original = original_of(db, capture)
        if original is not None:
            return Restored(capture, original, _version_of(db, capture, original))
    when = f" at or before {iso(at)}" if at else ""
    raise NothingArchived(f"no archived copy of #{source.id} {source.url}{when}")


def original_of(db: Session, capture: Capture) -> Capture | None:
    """The capture holding the full response that ``capture`` stands for (itself if it does)."""
    current: Capture | None = capture
    for _ in range(_MAX_HOPS):
        if current is None:
            return None
        if current.record_type == "response":
            return current if current.warc_file else None
        if current.refers_to_capture_id is None:
            return None
        current = db.get(Capture, current.refers_to_capture_id)
    return None


def _version_of(db: Session, capture: Capture, original: Capture) -> Version | None:
    version_id = capture.version_id or original.version_id
    return db.get(Version, version_id) if version_id else None


def later_versions(db: Session, copy: Restored) -> list[Version]:
    """Versions of the article first seen after this copy was captured (oldest first)."""
    query = (select(Version).where(col(Version.source_id) == copy.capture.source_id)
             .where(col(Version.first_seen) > copy.capture.at).order_by(col(Version.number)))
    return list(db.exec(query).all())


def html_bytes(archive: WarcArchive, copy: Restored) -> bytes:
    """The payload exactly as stored in the WARC response record."""
    return archive.read_payload(stored_of(copy.original).response)


def warc_bytes(archive: WarcArchive, copy: Restored) -> bytes:
    """A small self-contained .warc.gz: the response holding the payload (with its request),
    followed by the capture's own revisit when it is one. A compact capture adds nothing
    replayable, so its copy is the response it matched."""
    parts: list[bytes] = []
    captures = [copy.original]
    if copy.capture.record_type == "revisit" and copy.capture.id != copy.original.id:
        captures.append(copy.capture)
    for capture in captures:
        stored = stored_of(capture)
        if stored.request is not None:
            parts.append(archive.read_raw(stored.request))
        parts.append(archive.read_raw(stored.response))
    return b"".join(parts)


def text_of(copy: Restored) -> str:
    version = _need_version(copy)
    head = [version.title, version.byline or "", version.published or ""]
    return "\n".join(line for line in head if line) + "\n\n" + version.text + "\n"


def readable_html(db: Session, source: Source, copy: Restored) -> str:
    """A clean self-contained page of the article (see monitor/archive/readable.py)."""
    return render_readable(source, copy.capture.at, _need_version(copy), url=_copy_url(copy),
                           unchanged_since=copy.unchanged_since, later=later_versions(db, copy))


def _need_version(copy: Restored) -> Version:
    if copy.version is None:
        raise NothingArchived(f"the copy captured {iso(copy.capture.at)} has no extracted article text")
    return copy.version


def _copy_url(copy: Restored) -> str:
    """The address the copy was served from (after redirects)."""
    return copy.capture.final_url or copy.capture.url


def restore_bytes(db: Session, archive: WarcArchive, source: Source, copy: Restored, form: Form) -> bytes:
    """``copy`` in the form asked for; raises NothingArchived when that form has no content."""
    makers: dict[Form, Callable[[], bytes]] = {
        "html": lambda: html_bytes(archive, copy),
        "warc": lambda: warc_bytes(archive, copy),
        "text": lambda: text_of(copy).encode("utf-8"),
        "readable": lambda: readable_html(db, source, copy).encode("utf-8"),
    }
    return makers[form]()

