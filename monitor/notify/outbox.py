"""The outbox: each new event considered once, and the chosen ones batched into messages.

At the end of a pass every event still ``pending`` is claimed, judged and, when it is to be
told, put into a ``Notification``: one per kind per notifier. Claiming, judging and queueing
are one transaction, so a crash leaves the events pending for the next pass, and two
processes on one home (a daemon and a ``monitor check``) never both take an event: the
claiming UPDATE only matches rows still ``pending``, and the second writer waits for the
first to commit (SQLite's write lock, PostgreSQL's row locks).

An event is not told (its ``notify_state`` says why) when its kind is not in
``notify.kinds``, it is older than ``notify.max_age``, a person acknowledged it, its source
is muted for that kind, or it is a health state the user was last told about for that
source already (a state that has not changed).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from monitor.events import is_muted
from monitor.notify.message import render
from monitor.notify.targets import Target
from monitor.settings import NotifySettings
from monitor.store.models import Event, Notification, Source

HEALTH_KINDS = frozenset({"failing", "dead", "blocked", "recovered", "moved", "offline", "online"})
PENDING, QUEUED = "pending", "queued"


def queue_new_events(db: Session, policy: NotifySettings, targets: Sequence[Target],
                     now: datetime) -> int:
    """Judge every pending event once; queue a message per kind per target. Returns the number
    of messages queued. Commits."""
    if db.exec(select(Event.id).where(col(Event.notify_state) == PENDING).limit(1)).first() is None:
        return 0  # the common case, without taking the database's write lock
    events = _claim(db, now - policy.max_age)
    if not events:
        db.commit()
        return 0
    sources = sources_of(db, events)
    told = _last_told_health(db, {event.source_id for event in events})
    batches: dict[str, list[Event]] = {}
    for event in events:
        event.notify_state = _verdict(event, sources.get(event.source_id or 0), told, policy, now)
        if event.notify_state == QUEUED:
            batches.setdefault(event.kind, []).append(event)
    for kind, batch in batches.items():
        title, body = render(kind, batch, sources, policy.dashboard_url)
        for target in targets:
            db.add(Notification(target=target.label, kind=kind, event_ids=[e.id for e in batch],
                                title=title, body=body, created_at=now, next_attempt_at=now))
    db.commit()
    return len(batches) * len(targets)


def _claim(db: Session, cutoff: datetime) -> list[Event]:
    """Take every pending event for this transaction, oldest first; those from before
    ``cutoff`` are marked old in bulk (there may be many when notifications are switched on)."""
    db.exec(update(Event).where(col(Event.notify_state) == PENDING).where(col(Event.at) < cutoff)
            .values(notify_state="skipped-old"))
    token = f"claim-{secrets.token_hex(8)}"
    db.exec(update(Event).where(col(Event.notify_state) == PENDING)
            .values(notify_state=token))
    return list(db.exec(select(Event).where(col(Event.notify_state) == token)
                        .order_by(col(Event.at), col(Event.source_id), col(Event.id))).all())


def sources_of(db: Session, events: Sequence[Event]) -> dict[int, Source]:
    """The sources of ``events``, by id, in one query."""
    ids = {event.source_id for event in events if event.source_id is not None}
    if not ids:
        return {}
    return {source.id or 0: source for source in db.exec(select(Source).where(col(Source.id).in_(ids)))}


def _last_told_health(db: Session, source_ids: set[int | None]) -> dict[int | None, str]:
    """The last health kind queued for each source (None: the pass-level offline/online)."""
    ids = [i for i in source_ids if i is not None]
    rows = db.exec(
        select(Event.source_id, Event.kind).where(col(Event.notify_state) == QUEUED)
        .where(col(Event.kind).in_(HEALTH_KINDS))
        .where(or_(col(Event.source_id).in_(ids), col(Event.source_id).is_(None)))
        .order_by(col(Event.at), col(Event.source_id), col(Event.id))
    ).all()
    return {source_id: kind for source_id, kind in rows}


def _verdict(event: Event, source: Source | None, told: dict[int | None, str],
             policy: NotifySettings, now: datetime) -> str:
    """``queued``, or ``skipped-<why>``; remembers a queued health kind in ``told``."""
    if event.kind not in policy.kinds:
        return "skipped-kind"
    if event.at < now - policy.max_age:
        return "skipped-old"
    if event.acked_at is not None:
        return "skipped-acked"
    if is_muted(source, event.kind, event.at):
        return "skipped-muted"
    if event.kind in HEALTH_KINDS:
        if told.get(event.source_id) == event.kind:
            return "skipped-repeat"
        told[event.source_id] = event.kind
    return QUEUED


def still_to_tell(events: Sequence[Event], sources: dict[int, Source]) -> list[Event]:
    """Of a message's events, those not acknowledged or muted since it was queued."""
    return [event for event in events if event.acked_at is None
            and not is_muted(sources.get(event.source_id or 0), event.kind, event.at)]
