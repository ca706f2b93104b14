"""Restoring an archived copy: the exact bytes of a stored response, its article text,
or its WARC records, as of a point in time (``--at T`` = latest capture at or before T).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from monitor.archive.warc import WarcArchive
from monitor.check import stored_of
from monitor.clock import iso
from monitor.store.models import Capture, Source, Version


class NothingArchived(LookupError):
    """No stored copy of that source at or before the time asked for."""


@dataclass(frozen=True)
class Restored:
    capture: Capture  # the capture asked for (may be a revisit)
    original: Capture  # the capture whose response record holds the payload
    version: Version | None


def find_copy(db: Session, source: Source, at: datetime | None) -> Restored:
    """The latest successful capture with stored records at or before ``at``."""
    query = (
        select(Capture).where(col(Capture.source_id) == source.id)
        .where(col(Capture.record_type).is_not(None))
        .where(col(Capture.status) >= 200).where(col(Capture.status) < 300)
        .order_by(col(Capture.at).desc(), col(Capture.id).desc())
    )
    if at is not None:
        query = query.where(col(Capture.at) <= at)
    capture = db.exec(query.limit(1)).first()
    if capture is None:
        when = f" at or before {iso(at)}" if at else ""
        raise NothingArchived(f"no archived copy of #{source.id} {source.url}{when}")
    original = capture
    if capture.record_type == "revisit" and capture.refers_to_capture_id is not None:
        original = db.get(Capture, capture.refers_to_capture_id) or capture
    version = db.get(Version, capture.version_id) if capture.version_id else None
    return Restored(capture, original, version)


def html_bytes(archive: WarcArchive, copy: Restored) -> bytes:
    """The payload exactly as stored in the WARC response record."""
    return archive.read_payload(stored_of(copy.original).response)


def warc_bytes(archive: WarcArchive, copy: Restored) -> bytes:
    """A small self-contained .warc.gz: the capture's request and response (or revisit),
    preceded by the response it revisits."""
    parts: list[bytes] = []
    captures = [copy.original, copy.capture] if copy.original is not copy.capture else [copy.capture]
    for capture in captures:
        stored = stored_of(capture)
        if stored.request is not None:
            parts.append(archive.read_raw(stored.request))
        parts.append(archive.read_raw(stored.response))
    return b"".join(parts)


def text_of(copy: Restored) -> str:
    version = copy.version
    if version is None:
        raise NothingArchived("that capture has no extracted article text")
    head = [version.title, version.byline or "", version.published or ""]
    return "\n".join(line for line in head if line) + "\n\n" + version.text + "\n"
