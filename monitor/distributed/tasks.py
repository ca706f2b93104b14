"""The jobs: ``check`` (one source, on a ``monitor worker``) and ``dispatch`` (one dispatcher
tick, on ``monitor run``).

At most one check of a source runs at a time: its jobs carry ``lock`` and ``queueing_lock``
``source:<id>`` (procrastinate runs one job per lock at a time, and refuses a second queued
job for a source), and the worker holds the source's advisory lock for the check (so a worker
taken for gone, its heartbeat late, but still checking, is not joined by the worker its job
was handed to; a worker that really died lost the lock with its connection). Exactly once
per period: the job carries the ``next_check_at`` it was
dispatched for, and checks only while the source is still due for it. The check's own
transaction moves ``next_check_at`` on, so a job retried after that commit (its worker died
before telling the queue) does nothing. The same statement takes the source's lease, the
one ``monitor check`` takes too, in the job's name, so a retried job can take it back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import datetime, timedelta

from procrastinate import App, JobContext, RetryStrategy
from sqlalchemy import or_, update
from sqlmodel import col

from monitor.archive.submissions import save_public_copies
from monitor.check import CheckContext, CheckOutcome, check_source
from monitor.clock import as_utc, parse_time
from monitor.distributed.locks import SessionLocks
from monitor.events import NOT_ALERTS
from monitor.store import session
from monitor.store.models import Source

log = logging.getLogger("monitor.distributed")
CHECKS = "checks"  # the queue of check jobs (monitor worker)
DISPATCH = "dispatch"  # the queue of dispatcher ticks (monitor run)
CHECK_TASK, DISPATCH_TASK = "monitor.check", "monitor.dispatch"
Tick = Callable[[], Awaitable[str]]


def source_lock(source_id: int) -> str:
    return f"source:{source_id}"


def due_mark(next_check_at: datetime | None) -> str | None:
    """What a check job carries: the ``next_check_at`` it was dispatched for, to the microsecond."""
    return as_utc(next_check_at).isoformat() if next_check_at is not None else None


def job_owner(job_id: int | None) -> str:
    """The lease owner a job's check writes: a retried job (same id) can take its lease back."""
    return f"job:{job_id}"


def register(app: App) -> None:
    """Add the monitor's tasks to a new app (a Blueprint would bind its tasks to the first app)."""
    # a check that failed inside the monitor (a lost connection, a busy database) is tried
    # again: run_check is a no-op once the period's check has committed, so this is safe
    app.task(name=CHECK_TASK, queue=CHECKS, pass_context=True,
             retry=RetryStrategy(max_attempts=3, exponential_wait=2))(check)
    app.task(name=DISPATCH_TASK, queue=DISPATCH, pass_context=True)(dispatch)


async def check(context: JobContext, source_id: int, due_at: str | None) -> str:
    ctx: CheckContext = context.additional_context["check"]
    locks: SessionLocks | None = context.additional_context.get("locks")
    async with locks.source(source_id) if locks else nullcontext(True) as mine:
        if not mine:  # a worker taken for gone is still at it: its check will commit
            return f"source {source_id}: skipped, another worker is checking it"
        return await run_check(ctx, source_id, due_at, job_owner(context.job.id))


async def dispatch(context: JobContext, timestamp: int) -> str:
    """One dispatcher tick (``timestamp``: the tick's number, how the database tells ticks apart)."""
    tick: Tick = context.additional_context["tick"]
    return await tick()


async def run_check(ctx: CheckContext, source_id: int, due_at: str | None, owner: str) -> str:
    """Check the source if it is still due for ``due_at``; a line for the job's log either way."""
    due = parse_time(due_at) if due_at else None
    if not _lease_if_due(ctx, source_id, due, owner):
        return _why_not(ctx, source_id, due)
    try:
        outcome = await check_source(ctx, source_id)
    except BaseException:
        _release(ctx, source_id, owner)  # a crash or an abort must not keep the source leased
        raise
    _log_outcome(outcome)
    if ctx.settings.public.save_page_now:
        from monitor.schedule import PassSummary  # the same step a pass ends with

        await save_public_copies(ctx, PassSummary(outcomes=[outcome], checked=1))
    kinds = ", ".join(e.kind for e in outcome.events)
    return f"source {source_id}: {outcome.signal}" + (f" ({kinds})" if kinds else "")


def lease_ttl(ctx: CheckContext) -> timedelta:
    """Longer than any check can take (every redirect hop timing out), as a pass leases."""
    fetch = ctx.settings.fetch
    return fetch.timeout * (fetch.max_redirects + 1) + timedelta(minutes=5)


def _lease_if_due(ctx: CheckContext, source_id: int, due: datetime | None, owner: str) -> bool:
    """One statement: still active, still due for ``due``, lease free (or already ours) → ours."""
    now = ctx.clock.now()
    still_due = (col(Source.next_check_at).is_(None) if due is None
                 else col(Source.next_check_at) <= due)
    statement = (
        update(Source)
        .where(col(Source.id) == source_id, col(Source.paused).is_(False), still_due)
        .where(or_(col(Source.lease_until).is_(None), col(Source.lease_until) < now,
                   col(Source.lease_owner) == owner))
        .values(lease_until=now + lease_ttl(ctx), lease_owner=owner)
    )
    with session(ctx.engine) as db:
        won = db.exec(statement).rowcount == 1
        db.commit()
    return won


def _why_not(ctx: CheckContext, source_id: int, due: datetime | None) -> str:
    with session(ctx.engine) as db:
        source = db.get(Source, source_id)
    if source is None:
        return f"source {source_id}: skipped, removed"
    if source.paused:
        return f"source {source_id}: skipped, paused"
    if source.next_check_at != due:
        return f"source {source_id}: skipped, already checked (next check {due_mark(source.next_check_at)})"
    return f"source {source_id}: skipped, being checked by {source.lease_owner}"


def _release(ctx: CheckContext, source_id: int, owner: str) -> None:
    with session(ctx.engine) as db:
        db.exec(update(Source)
                .where(col(Source.id) == source_id, col(Source.lease_owner) == owner)
                .values(lease_until=None, lease_owner=None))
        db.commit()


def _log_outcome(outcome: CheckOutcome) -> None:
    for event in outcome.events:
        level = logging.WARNING if event.kind not in NOT_ALERTS else logging.INFO
        log.log(level, "%s source=%s url=%s: %s", event.kind, outcome.source_id, outcome.url,
                event.summary)
    log.debug("checked source=%s url=%s signal=%s", outcome.source_id, outcome.url, outcome.signal)
