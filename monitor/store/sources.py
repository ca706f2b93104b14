"""Queries on sources: naming one, syncing the config file in, claiming due ones."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from monitor.config import SourceEntry
from monitor.store.models import Capture, Event, Host, PublicCopy, Source, Version
from monitor.urls import BadURL, canonicalize, host_of

IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-variable limit


class UnknownSource(LookupError):
    """No source has that id or URL."""


def find_source(session: Session, ref: str) -> Source:
    """A source named by its id, its URL as given, or its canonical URL."""
    if ref.isdigit():
        found = session.get(Source, int(ref))
        if found:
            return found
    candidates = [ref]
    with suppress(BadURL):
        candidates.append(canonicalize(ref))
    for url in candidates:
        found = session.exec(
            select(Source).where(or_(col(Source.url) == url, col(Source.given_url) == url))
        ).first()
        if found:
            return found
    raise UnknownSource(f"no source {ref!r} (use an id or URL from 'monitor status')")


def all_sources(session: Session) -> Sequence[Source]:
    return session.exec(select(Source).order_by(col(Source.id))).all()


def add_source(
    session: Session,
    url: str,
    now: datetime,
    *,
    title: str | None = None,
    outlet: str | None = None,
    origin: str = "cli",
) -> tuple[Source, bool]:
    """Add ``url`` (canonicalised); returns the source and whether it is new."""
    canonical = canonicalize(url)
    existing = session.exec(select(Source).where(col(Source.url) == canonical)).first()
    if existing:
        if title and not existing.title:
            existing.title = title
        return existing, False
    source = Source(
        url=canonical, given_url=url.strip(), title=title, outlet=outlet, origin=origin,
        created_at=now, next_check_at=now,
    )
    session.add(source)
    return source, True


REMOVED = ("removed", "removed-from-config")  # paused_reason of a source no longer watched


def set_paused(source: Source, paused: bool, now: datetime, reason: str | None = "user") -> None:
    """Pause (``reason``: user, removed …) or resume; a resumed source is due at once."""
    source.paused, source.paused_reason = paused, (reason if paused else None)
    if not paused:
        source.next_check_at = now


def purge_source(session: Session, source: Source) -> None:
    """Delete a source and its rows (captures, versions, events); WARC files stay."""
    for table in (PublicCopy, Event, Version, Capture):
        session.exec(delete(table).where(col(table.source_id) == source.id))
    session.delete(source)


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0
    paused: int = 0

    def __str__(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.paused} paused (gone from file)"


def sync_config(session: Session, entries: list[SourceEntry], now: datetime) -> SyncReport:
    """Bring the file's sources into the database; a source removed from the file is paused."""
    report = SyncReport()
    by_url = {s.url: s for s in session.exec(select(Source)).all()}
    for entry in entries:
        source = by_url.get(entry.url)
        if source is None:
            source, _ = add_source(session, entry.url, now, origin="config")
            report.added += 1
        elif _apply_entry(source, entry):
            report.updated += 1
        _copy_entry(source, entry)
    listed = {e.url for e in entries}
    for source in by_url.values():
        if source.origin == "config" and source.url not in listed and not source.paused:
            source.paused, source.paused_reason = True, "removed-from-config"
            report.paused += 1
    session.commit()
    return report


def _apply_entry(source: Source, entry: SourceEntry) -> bool:
    interval = int(entry.interval.total_seconds()) if entry.interval else None
    changed = (source.title, source.outlet, source.tags, source.interval_s, source.cited_at) != (
        entry.title, entry.outlet, entry.tags, interval, entry.cited_at
    )
    if source.paused and source.paused_reason == "removed-from-config":
        source.paused, source.paused_reason = False, None
        changed = True
    source.origin = "config"
    return changed


def _copy_entry(source: Source, entry: SourceEntry) -> None:
    source.title = entry.title
    source.outlet = entry.outlet
    source.tags = list(entry.tags)
    source.interval_s = int(entry.interval.total_seconds()) if entry.interval else None
    source.cited_at = entry.cited_at


def due_source_ids(session: Session, now: datetime, limit: int, *, leased: bool = True,
                   exclude: Collection[int] = ()) -> list[int]:
    """Active sources due at ``now``, most overdue first; ``leased=False`` leaves out those
    another check holds, ``exclude`` those a caller has already tried."""
    query = (
        select(Source.id)
        .where(col(Source.paused).is_(False))
        .where(or_(col(Source.next_check_at).is_(None), col(Source.next_check_at) <= now))
        .order_by(col(Source.next_check_at))
        .limit(limit)
    )
    if not leased:
        query = query.where(or_(col(Source.lease_until).is_(None), col(Source.lease_until) < now))
    if exclude:
        query = query.where(col(Source.id).not_in(list(exclude)))
    return [i for i in session.exec(query).all() if i is not None]


@dataclass(frozen=True)
class CheckInputs:
    """What a check reads before it fetches: the source, the captures its last response and
    its validators came from, and its host (for a back-off in force)."""

    source: Source
    last_response: Capture | None
    validated: Capture | None
    host: Host | None


def check_inputs(session: Session, ids: Sequence[int]) -> dict[int, CheckInputs]:
    """The inputs of the checks of these sources, in three queries per 500 sources rather
    than four per source; a source that does not exist is left out."""
    found: dict[int, CheckInputs] = {}
    for start in range(0, len(ids), IN_CHUNK):
        sources = session.exec(select(Source).where(col(Source.id).in_(ids[start:start + IN_CHUNK]))).all()
        wanted = {i for s in sources for i in (s.last_response_capture_id, s.validators_capture_id) if i}
        captures = {c.id: c for c in session.exec(select(Capture).where(col(Capture.id).in_(wanted)))}
        names = {host_of(s.url) for s in sources}
        hosts = {h.host: h for h in session.exec(select(Host).where(col(Host.host).in_(names)))}
        for s in sources:
            found[s.id or 0] = CheckInputs(
                s, captures.get(s.last_response_capture_id or 0),
                captures.get(s.validators_capture_id or 0), hosts.get(host_of(s.url)))
    return found


def claim(session: Session, ids: list[int], now: datetime, ttl: timedelta) -> list[int]:
    """Lease sources so no other process checks them at the same time; returns those won,
    in the order given. One UPDATE … RETURNING per 500 sources (SQLite 3.35+, PostgreSQL)."""
    won: set[int] = set()
    for start in range(0, len(ids), IN_CHUNK):
        result = session.execute(
            update(Source)
            .where(col(Source.id).in_(ids[start:start + IN_CHUNK]))
            .where(or_(col(Source.lease_until).is_(None), col(Source.lease_until) < now))
            .values(lease_until=now + ttl, lease_owner=lease_owner())
            .returning(col(Source.id))
        )
        won.update(result.scalars().all())
    session.commit()
    return [i for i in ids if i in won]


def release(session: Session, ids: list[int]) -> None:
    """Drop the leases on these sources (a finished check drops its own)."""
    if ids:
        session.exec(
            update(Source).where(col(Source.id).in_(ids)).values(lease_until=None, lease_owner=None)
        )
        session.commit()


def lease_owner() -> str:
    """Who holds a lease this process takes: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def release_orphaned(session: Session) -> int:
    """Free the leases of processes on this host that are gone (killed in the middle of a pass).

    Call it before this process claims anything: a lease in its own name is then left by an
    earlier process that had the same pid (a restarted container's daemon often does).
    Without this, a kill -9 would keep its sources from being checked until the lease ran out.
    """
    host = socket.gethostname()
    held = session.exec(select(Source.id, Source.lease_owner)
                        .where(col(Source.lease_until).is_not(None))
                        .where(col(Source.lease_owner).startswith(f"{host}:", autoescape=True))).all()
    orphaned = [source_id for source_id, owner in held if owner and not _running(owner)]
    release(session, [i for i in orphaned if i is not None])
    return len(orphaned)


def _running(owner: str) -> bool:
    pid = owner.rsplit(":", 1)[1]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def next_check(now: datetime, interval: timedelta, jitter: float, rng: random.Random) -> datetime:
    spread = interval.total_seconds() * jitter
    return now + interval + timedelta(seconds=rng.uniform(-spread, spread))
