"""Versions of an article: where a capture's extracted content becomes a new Version,
a flip-flop back to a recent one, an extraction problem, or nothing new at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from monitor.compare import ArticleContent, compare, fingerprint, normalize
from monitor.events import new_event
from monitor.settings import Settings
from monitor.store.commit import batched
from monitor.store.models import Capture, Event, Source, Version


@dataclass
class ContentOutcome:
    events: list[Event] = field(default_factory=list)
    current_version_id: int | None = None
    current_content: ArticleContent | None = None  # the version now current, for health checks


def content_of(version: Version) -> ArticleContent:
    return ArticleContent(title=version.title, text=version.text, byline=version.byline,
                          published=version.published, modified=version.modified)


def record_content(
    db: Session,
    source: Source,
    capture: Capture,
    content: ArticleContent | None,
    unchanged: bool,
    now: datetime,
    settings: Settings,
) -> ContentOutcome:
    """Store what this capture says about the article; return the events it raises."""
    current = db.get(Version, source.current_version_id) if source.current_version_id else None
    outcome = ContentOutcome(current_version_id=source.current_version_id,
                             current_content=content_of(current) if current else None)
    if current is not None and unchanged:
        _seen_again(current, capture, now)
        return outcome
    if content is None:
        if current is not None and _is_ok_page(capture):
            outcome.events.append(_extraction_failed(source, capture, now, "no article text found"))
        return outcome
    if current is not None and _collapsed(content, current, settings.extract.min_ratio):
        outcome.events.append(_extraction_failed(
            source, capture, now, f"extracted {len(content.text)} characters, "
            f"last good version had {len(current.text)}"))
        return outcome
    return _new_content(db, source, capture, content, current, now, settings, outcome)


def seen_again(db: Session, source: Source, content: ArticleContent | None,
               now: datetime) -> ContentOutcome:
    """The current version seen again, known by the check: a 304 or the same bytes
    (``content`` None), new bytes whose extraction input proved them to hold it, or an
    extraction equal to it field for field (``content``, the current version's). What
    ``record_content`` would conclude, with no read, no comparison and one row in a batched
    UPDATE instead of an ORM object; the capture's ``version_id`` is the caller's to set."""
    assert source.current_version_id is not None
    batched(db, _SEEN_AGAIN, {"version_id": source.current_version_id, "seen_at": now})
    return ContentOutcome(current_version_id=source.current_version_id, current_content=content)


_VERSION = Version.__table__  # type: ignore[attr-defined]
_SEEN_AGAIN = (update(_VERSION).where(_VERSION.c.id == bindparam("version_id"))
               .values(last_seen=bindparam("seen_at"), seen_count=_VERSION.c.seen_count + 1))


def _new_content(
    db: Session, source: Source, capture: Capture, content: ArticleContent,
    current: Version | None, now: datetime, settings: Settings, outcome: ContentOutcome,
) -> ContentOutcome:
    digest = fingerprint(content)
    if current is not None and digest == current.fingerprint:
        _seen_again(current, capture, now)
        return outcome
    earlier = _recent(db, source, settings.compare.flipflop_window, digest)
    if current is not None and earlier is not None:
        _seen_again(earlier, capture, now)
        source.current_version_id = earlier.id
        outcome.events.append(new_event(
            "flipflop", now, f"back to version {earlier.number} (seen before; not an edit)",
            source=source, details={"classification": ["flipflop"]},
            version_before=current.id, version_after=earlier.id))
        outcome.current_version_id, outcome.current_content = earlier.id, content_of(earlier)
        return outcome
    version = _store_version(db, source, capture, content, digest, now)
    outcome.events.append(_version_event(source, current, version, content, now))
    outcome.current_version_id, outcome.current_content = version.id, content
    return outcome


def _store_version(
    db: Session, source: Source, capture: Capture, content: ArticleContent, digest: str,
    now: datetime,
) -> Version:
    source.version_count += 1
    version = Version(
        source_id=source.id or 0, number=source.version_count, fingerprint=digest,
        title=content.title, byline=content.byline, published=content.published,
        modified=content.modified, text=content.text, first_seen=now, last_seen=now,
        capture_id=capture.id,
    )
    db.add(version)
    db.flush()
    source.current_version_id = version.id
    capture.version_id = version.id
    if not source.title and content.title:
        source.title = content.title
    return version


def _version_event(
    source: Source, before: Version | None, after: Version, content: ArticleContent,
    now: datetime,
) -> Event:
    if before is None:
        return new_event("archived", now, f"first version archived: {content.title!r}",
                         source=source, details={"version_number": after.number},
                         version_after=after.id)
    source.last_change_at = now
    comparison = compare(content_of(before), content)
    details = {
        "classification": list(comparison.classes),
        "stats": dict(comparison.stats),
        "version_numbers": [before.number, after.number],
        "capture_id": after.capture_id,
    }
    return new_event("changed", now, comparison.summary, severity=comparison.severity,
                     source=source, details=details, version_before=before.id,
                     version_after=after.id)


def _seen_again(version: Version, capture: Capture, now: datetime) -> None:
    version.last_seen = now
    version.seen_count += 1
    capture.version_id = version.id


def _recent(db: Session, source: Source, window: int, digest: str) -> Version | None:
    if window <= 0:
        return None
    recent = db.exec(  # fingerprints only: the texts of the last versions are not needed
        select(Version.id, Version.fingerprint).where(col(Version.source_id) == source.id)
        .order_by(col(Version.number).desc()).limit(window + 1)
    ).all()
    found = next((version_id for version_id, seen in recent if seen == digest), None)
    return db.get(Version, found) if found is not None else None


def _collapsed(content: ArticleContent, current: Version, min_ratio: float) -> bool:
    """A fraction of the last good text on a page that is otherwise fine: extraction failed.

    Measured in prose, not characters: when the article body is missing (rendered by
    script, behind a consent layer), trafilatura falls back to the page's menus and rails,
    which are many short lines and no sentences.
    """
    before = prose_length(current.text) or len(normalize(current.text))
    return before > 0 and prose_length(content.text) < min_ratio * before


_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*(\s|$)")


def prose_length(text: str) -> int:
    """Characters in paragraphs that read as prose (long enough, with a sentence ending)."""
    paragraphs = (normalize(p) for p in text.split("\n"))
    return sum(len(p) for p in paragraphs if len(p) >= 40 and _SENTENCE_END.search(p))


def _is_ok_page(capture: Capture) -> bool:
    return capture.status is not None and 200 <= capture.status < 300


def _extraction_failed(source: Source, capture: Capture, now: datetime, why: str) -> Event:
    return new_event("extraction_failed", now, f"extraction problem: {why}", source=source,
                     details={"capture_id": capture.id, "status": capture.status})
