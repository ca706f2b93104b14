"""Delivering the outbox through Apprise's async API, each message with a timeout.

A due message is first claimed (``sending``, with ``next_attempt_at`` as the end of the
claim) by a conditional UPDATE, so that two processes never send it both. Each notifier
gets its messages in order, one at a time; after a failure the rest for that notifier wait
with it (each could cost the whole timeout). A failure is recorded with Apprise's reason
(secrets masked) and retried after a back-off that doubles with each attempt, up to
``notify.max_attempts``. A process killed while sending leaves the claim to run out; the
message is then sent again, the one case where a notifier may see it twice (nobody can know
whether the killed send arrived).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import apprise
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from monitor.clock import Clock, iso
from monitor.notify.message import notify_type, render
from monitor.notify.outbox import sources_of, still_to_tell
from monitor.notify.targets import Target, scrub
from monitor.settings import NotifySettings
from monitor.store import session
from monitor.store.models import Event, Notification

log = logging.getLogger("monitor.notify")
DUE = ("pending", "failed", "sending")  # "sending" is due again once its claim has run out
MAX_BACKOFF = timedelta(days=1)
BATCH = 100  # messages one pass sends at most; the rest are due on the next
HELD = "waiting: an earlier message to this notifier failed"


@dataclass
class Job:
    """A claimed message, its notifier (None: no longer configured), and whether any of its
    events are still to tell; ``error`` is filled in by the attempt (None: delivered)."""

    row: Notification
    target: Target | None
    telling: bool
    error: str | None = None


async def send_message(target: Target, title: str, body: str, kind: str,
                       timeout: timedelta) -> str | None:
    """Send one message to one notifier. None when it was delivered, else why not (no secrets)."""
    notifier = apprise.Apprise()
    if not notifier.add(target.url):
        return "Apprise cannot load this URL"
    result = await notifier.async_notify(
        body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN,
        notify_type=notify_type(kind), timeout=timeout.total_seconds())
    with result:
        if result:
            return None
        if result.status == apprise.AppriseResultStatus.TIMEOUT:
            return f"no answer within {timeout.total_seconds():g}s"
        messages = [entry.message for entry in result.logs()]
    reason = messages[-1].rstrip(". ") if messages else f"not delivered ({result.status.name.lower()})"
    return scrub(reason, target.url)


async def deliver_due(engine: Engine, clock: Clock, policy: NotifySettings,
                      targets: Sequence[Target]) -> Counter[str]:
    """Send every message whose time has come; returns how many were sent, failed, given up…"""
    by_label = {target.label: target for target in targets}
    with session(engine) as db:
        rows = claim_due(db, clock.now(), policy.timeout + timedelta(minutes=1))
        jobs = [_prepare(db, row, by_label, policy) for row in rows]
        db.commit()  # no transaction stays open while the notifiers answer
        await _send_all(jobs, policy.timeout)
        now = clock.now()
        for job in jobs:
            _record(job, now, policy)
        _hold(jobs, now + policy.retry_backoff)
        db.commit()
    return Counter(job.row.status for job in jobs if job.error != HELD)


def claim_due(db: Session, now: datetime, lease: timedelta) -> list[Notification]:
    """Claim the due messages no other process has claimed; returns those won (committed)."""
    due = db.exec(select(Notification).where(col(Notification.status).in_(DUE))
                  .where(col(Notification.next_attempt_at) <= now)
                  .order_by(col(Notification.created_at), col(Notification.id)).limit(BATCH)).all()
    won = []
    for row in due:
        result = db.exec(
            update(Notification).where(col(Notification.id) == row.id)
            .where(col(Notification.attempts) == row.attempts)
            .where(col(Notification.status).in_(DUE))
            .values(status="sending", attempts=row.attempts + 1, next_attempt_at=now + lease))
        if result.rowcount:
            won.append(row.id)
    db.commit()
    return list(db.exec(select(Notification).where(col(Notification.id).in_(won))
                        .order_by(col(Notification.created_at), col(Notification.id))).all())


def _prepare(db: Session, row: Notification, by_label: dict[str, Target],
             policy: NotifySettings) -> Job:
    """Render the message again from its events still to tell (none: nothing to send)."""
    events = list(db.exec(select(Event).where(col(Event.id).in_(row.event_ids))
                          .order_by(col(Event.at), col(Event.source_id), col(Event.id))).all())
    sources = sources_of(db, events)
    left = still_to_tell(events, sources)
    if left:
        row.title, row.body = render(row.kind, left, sources, policy.dashboard_url)
    return Job(row, by_label.get(row.target), bool(left))


async def _send_all(jobs: list[Job], timeout: timedelta) -> None:
    """Each notifier's messages one after another, oldest first (an "online again" must not
    overtake its "offline"), until one fails; the notifiers at the same time."""
    queues: dict[str, list[Job]] = {}
    for job in jobs:
        queues.setdefault(job.row.target, []).append(job)

    async def in_order(queue: list[Job]) -> None:
        failed = False
        for job in queue:
            if failed:
                job.error = HELD
            elif job.target is not None and job.telling:
                job.error = await _attempt(job.target, job.row, timeout)
                failed = job.error is not None

    await asyncio.gather(*(in_order(queue) for queue in queues.values()))


async def _attempt(target: Target, row: Notification, timeout: timedelta) -> str | None:
    try:
        return await send_message(target, row.title, row.body, row.kind, timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a notifier's bug must not stop the others; retried like a failure
        return scrub(f"{type(exc).__name__}: {exc}", target.url)


def _record(job: Job, now: datetime, policy: NotifySettings) -> None:
    """Write what became of one attempt, and say it in one log line."""
    row = job.row
    if job.target is None:
        row.status, row.next_attempt_at = "given-up", None
        row.last_error = "this notifier is no longer in notify.urls"
        log.warning("notification %s not sent: %s is no longer configured", row.id, row.target)
    elif not job.telling:
        row.status, row.next_attempt_at = "dropped", None
        row.last_error = "every event in it was acknowledged or muted before it went out"
    elif job.error == HELD:
        row.attempts -= 1  # not tried: the claim's attempt is given back
        row.status, row.last_error = ("failed" if row.attempts else "pending"), HELD
    elif job.error is None:
        row.status, row.sent_at, row.next_attempt_at, row.last_error = "sent", now, None, None
        log.info("notified %s: %s", row.target, row.title)
    else:
        _failed(row, job.error, now, policy)


def _failed(row: Notification, error: str, now: datetime, policy: NotifySettings) -> None:
    """Retry after the doubling back-off, or give up after ``max_attempts``."""
    row.last_error = error
    if row.attempts >= policy.max_attempts:
        row.status, row.next_attempt_at = "given-up", None
        log.warning("notification %s (%s) to %s given up after %s attempts: %s", row.id, row.title,
                    row.target, row.attempts, error)
        return
    row.status = "failed"
    row.next_attempt_at = now + min(policy.retry_backoff * 2 ** (row.attempts - 1), MAX_BACKOFF)
    log.warning("notification %s (%s) to %s failed (attempt %s): %s; next try %s", row.id,
                row.title, row.target, row.attempts, error, iso(row.next_attempt_at))


def _hold(jobs: list[Job], otherwise: datetime) -> None:
    """Messages not tried wait as long as the one that failed before them (``otherwise``
    when that one was given up)."""
    retry_at = {job.row.target: job.row.next_attempt_at for job in jobs
                if job.error not in (None, HELD)}
    for job in jobs:
        if job.error == HELD:
            job.row.next_attempt_at = retry_at.get(job.row.target) or otherwise
