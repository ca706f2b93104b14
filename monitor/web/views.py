"""What the dashboard and the API show: read-only queries shared by both faces.

Every page and its JSON twin call the same function here, so the two never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from monitor.archive.restore import Restored, holds_copy, original_of
from monitor.compare import Comparison, compare
from monitor.events import NOT_ALERTS, is_muted
from monitor.health.signals import DEATH, HEALTHY
from monitor.health.state import TROUBLED
from monitor.report import LayoutItem, Span, layout, word_spans
from monitor.store.models import Capture, Event, Source, Version
from monitor.store.sources import REMOVED
from monitor.versions import content_of

SPARK = 30  # checks shown in a source's sparkline
PAGE = 100  # sources per dashboard page
HEALTH_FILTERS = ("all", "troubled", "new", "alive", "failing", "dead", "blocked", "moved",
                  "recovered", "paused", "removed")
HEALTH_PATTERN = f"^({'|'.join(HEALTH_FILTERS)})$"


class NotFound(LookupError):
    """What a page or API call names does not exist."""


@dataclass(frozen=True)
class Tick:
    """One check in a sparkline: ``kind`` is changed, ok, warn (transient, blocked) or fail."""

    at: datetime
    kind: str
    label: str


@dataclass
class SourceRow:
    source: Source
    ticks: list[Tick] = field(default_factory=list)
    alerts: int = 0  # unacknowledged, unmuted alert events

    @property
    def state(self) -> str:
        if self.source.paused:
            return "removed" if self.source.paused_reason in REMOVED else "paused"
        return self.source.health


def tick_kind(outcome: str | None, changed: bool) -> str:
    if changed:
        return "changed"
    if outcome in HEALTHY:
        return "ok"
    if outcome in DEATH:
        return "fail"
    return "warn"


def source_rows(db: Session, health: str = "all", query: str = "",
                page: int = 1) -> tuple[list[SourceRow], int]:
    """One dashboard page of sources (and how many match), with sparklines and alert counts."""
    stmt = select(Source)
    removed = col(Source.paused_reason).in_(REMOVED)
    if health == "removed":
        stmt = stmt.where(col(Source.paused).is_(True), removed)
    elif health == "paused":
        stmt = stmt.where(col(Source.paused).is_(True), ~removed)
    else:
        stmt = stmt.where(~(col(Source.paused).is_(True) & removed))
        if health == "troubled":
            stmt = stmt.where(col(Source.health).in_(list(TROUBLED)))
        elif health != "all":
            stmt = stmt.where(col(Source.health) == health)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(col(Source.url).ilike(like) | col(Source.title).ilike(like)
                          | col(Source.outlet).ilike(like))
    total = db.exec(select(func.count()).select_from(stmt.subquery())).one()
    sources = db.exec(stmt.order_by(col(Source.id)).offset((page - 1) * PAGE).limit(PAGE)).all()
    rows = {s.id: SourceRow(s) for s in sources if s.id is not None}
    add_details(db, rows)
    return list(rows.values()), int(total)


def add_details(db: Session, rows: dict[int, SourceRow]) -> None:
    """Fill in the sparklines and alert counts of these rows (a few queries for all of them)."""
    _add_ticks(db, rows)
    _add_alerts(db, rows)


def _add_ticks(db: Session, rows: dict[int, SourceRow]) -> None:
    if not rows:
        return
    rank = func.row_number().over(partition_by=col(Capture.source_id),
                                  order_by=(col(Capture.at).desc(), col(Capture.id).desc()))
    columns = [col(c) for c in (Capture.id, Capture.source_id, Capture.at, Capture.outcome,
                                Capture.status, Capture.error_class)]
    recent = (sql_select(*columns, rank.label("rank"))
              .where(col(Capture.source_id).in_(list(rows))).subquery())
    found = db.execute(sql_select(recent).where(recent.c.rank <= SPARK)).all()
    ids = [r.id for r in found]
    new_version = dict(db.exec(select(Version.capture_id, Version.number)
                               .where(col(Version.capture_id).in_(ids))).all())
    for r in sorted(found, key=lambda r: (r.at, r.id)):
        number = new_version.get(r.id)
        changed = number is not None and number > 1
        what = f"version {number}" if number else (r.outcome or r.error_class or "no answer")
        status = f" {r.status}" if r.status else ""
        rows[r.source_id].ticks.append(Tick(r.at, tick_kind(r.outcome, changed), f"{r.at:%Y-%m-%d %H:%M} "
                                            f"UTC:{status} {what}"))


def _add_alerts(db: Session, rows: dict[int, SourceRow]) -> None:
    if not rows:
        return
    pending = db.exec(select(Event.source_id, Event.kind, Event.at)
                      .where(col(Event.source_id).in_(list(rows)), col(Event.acked_at).is_(None),
                             col(Event.kind).not_in(NOT_ALERTS))).all()
    for source_id, kind, at in pending:
        row = rows[source_id or 0]
        if not is_muted(row.source, kind, at):
            row.alerts += 1


def get_source(db: Session, source_id: int) -> Source:
    source = db.get(Source, source_id)
    if source is None:
        raise NotFound(f"no source #{source_id}")
    return source


def versions(db: Session, source: Source) -> list[Version]:
    return list(db.exec(select(Version).where(col(Version.source_id) == source.id)
                        .order_by(col(Version.number).desc())).all())


def get_version(db: Session, source: Source, number: int) -> Version:
    found = db.exec(select(Version).where(col(Version.source_id) == source.id,
                                          col(Version.number) == number)).first()
    if found is None:
        raise NotFound(f"#{source.id} has no version {number} (it has {source.version_count})")
    return found


def captures(db: Session, source: Source, limit: int = 50) -> list[Capture]:
    return list(db.exec(select(Capture).where(col(Capture.source_id) == source.id)
                        .order_by(col(Capture.at).desc(), col(Capture.id).desc()).limit(limit)).all())


def restorable_ids(db: Session, ids: list[int]) -> set[int]:
    """Which of these captures have an archived copy to show."""
    if not ids:
        return set()
    found = db.exec(select(Capture.id).where(col(Capture.id).in_(ids)).where(holds_copy())).all()
    return {i for i in found if i is not None}


def events(db: Session, *, source_id: int | None = None, kind: str | None = None,
           unacked: bool = False, since: datetime | None = None, limit: int = 100) -> list[Event]:
    stmt = select(Event)
    if source_id is not None:
        stmt = stmt.where(col(Event.source_id) == source_id)
    if kind:
        stmt = stmt.where(col(Event.kind) == kind)
    if unacked:
        stmt = stmt.where(col(Event.acked_at).is_(None), col(Event.kind).not_in(NOT_ALERTS))
    if since is not None:
        stmt = stmt.where(col(Event.at) >= since)
    return list(db.exec(stmt.order_by(col(Event.at).desc(), col(Event.id).desc()).limit(limit)).all())


def get_event(db: Session, event_id: str) -> Event:
    found = db.get(Event, event_id)
    if found is None:
        raise NotFound(f"no event {event_id}")
    return found


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    event: Event | None = None
    version: Version | None = None


def timeline(db: Session, source: Source, limit: int = 200) -> list[TimelineItem]:
    """The source's versions and events, newest first."""
    items = [TimelineItem(v.first_seen, version=v) for v in versions(db, source)[:limit]]
    items += [TimelineItem(e.at, event=e) for e in events(db, source_id=source.id, limit=limit)]
    return sorted(items, key=lambda item: (item.at, item.version is not None), reverse=True)


@dataclass(frozen=True)
class DiffView:
    source: Source
    before: Version
    after: Version
    comparison: Comparison
    items: list[LayoutItem]
    title_spans: list[Span]


def diff(db: Session, source: Source, before: int | None, after: int | None) -> DiffView:
    """Versions ``before`` → ``after`` (default: the last change)."""
    if source.version_count < 1:
        raise NotFound(f"#{source.id} has no versions yet")
    newer = get_version(db, source, after if after is not None else source.version_count)
    older_number = before if before is not None else max(1, newer.number - 1)
    older = get_version(db, source, older_number)
    comparison = compare(content_of(older), content_of(newer))
    return DiffView(source, older, newer, comparison, layout(comparison.blocks),
                    word_spans(comparison.title_words))


def copy_of_capture(db: Session, capture_id: int) -> tuple[Source, Restored]:
    """The archived copy a capture stands for (its own response, or the one it refers to)."""
    capture = db.exec(select(Capture).where(col(Capture.id) == capture_id).where(holds_copy())).first()
    original = original_of(db, capture) if capture else None
    if capture is None or original is None:
        raise NotFound(f"capture {capture_id} has no archived copy")
    version_id = capture.version_id or original.version_id
    version = db.get(Version, version_id) if version_id else None
    return get_source(db, capture.source_id), Restored(capture, original, version)


def titles(db: Session, ids: set[int]) -> dict[int, str]:
    """Title (or URL) of each source, for lists of events."""
    rows = db.exec(select(Source.id, Source.title, Source.url).where(col(Source.id).in_(list(ids)))).all()
    return {i: t or u for i, t, u in rows if i is not None}


def epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)


def alert_counts(db: Session) -> dict[str, int]:
    """Sources per state, for the dashboard's filter bar."""
    counts: dict[str, int] = defaultdict(int)
    groups = db.exec(select(Source.health, Source.paused, Source.paused_reason, func.count())
                     .group_by(col(Source.health), col(Source.paused), col(Source.paused_reason)))
    for health, paused, reason, n in groups:
        if paused:
            counts["removed" if reason in REMOVED else "paused"] += n
            continue
        counts["all"] += n
        counts[health] += n
        if health in TROUBLED:
            counts["troubled"] += n
    return dict(counts)
