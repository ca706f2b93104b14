"""Passes and the daemon: which sources are due, running them through ``check_source``,
and the APScheduler tick that drives it all in ``monitor run``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import col, select

from monitor.archive.submissions import save_public_copies
from monitor.check import CheckContext, CheckOutcome, check_source
from monitor.events import NOT_ALERTS, new_event
from monitor.exchange import FetchError
from monitor.health import PassGuard
from monitor.health.offline import Probe
from monitor.notify.step import notify_pass
from monitor.store import session
from monitor.store.models import Event
from monitor.store.sources import claim, due_source_ids, release

log = logging.getLogger("monitor.schedule")
Progress = Callable[[CheckOutcome], None]


@dataclass
class PassSummary:
    checked: int = 0
    changed: int = 0
    failed: int = 0
    errors: int = 0  # the monitor itself failed on a source (a bug, a full disk …)
    deferred: int = 0  # not fetched: their host asked us to back off (429/503)
    extracted: int = 0  # full extractions
    fingerprint: int = 0  # new bytes proved to hold the current version: nothing extracted
    offline: bool = False
    public: str = ""  # what happened to the public copies (Save Page Now), if anything
    notified: str = ""  # what happened to the notifications, if anything
    seconds: float = 0.0
    signals: Counter[str] = field(default_factory=Counter)
    outcomes: list[CheckOutcome] = field(default_factory=list)

    def line(self) -> str:
        parts = [f"pass: {self.checked} checked", f"{self.changed} changed", f"{self.failed} failing",
                 f"{self.extracted} extracted", f"{self.fingerprint} by fingerprint"]
        if self.errors:
            parts.append(f"{self.errors} errors")
        if self.deferred:
            parts.append(f"{self.deferred} deferred (host backing off)")
        if self.offline:
            parts.append("OFFLINE: network unreachable, nobody judged")
        if self.public:
            parts.append(self.public)
        if self.notified:
            parts.append(self.notified)
        return ", ".join(parts) + f" in {self.seconds:.1f}s"


async def run_pass(
    ctx: CheckContext, source_ids: list[int], progress: Progress | None = None
) -> PassSummary:
    """Check these sources concurrently (the fetcher enforces the limits) and sum up."""
    started = time.monotonic()
    now = ctx.clock.now()
    with session(ctx.engine) as db:
        ids = claim(db, source_ids, now, _lease(ctx))
    guard = PassGuard(len(ids), ctx.settings.health, _canary_probe(ctx))
    summary = PassSummary()
    tasks = [asyncio.create_task(_one(ctx, i, guard, summary, progress)) for i in ids]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        with session(ctx.engine) as db:
            release(db, ids)  # a check that crashed or was cancelled must not stay leased
    summary.offline = guard.decided_offline
    _record_network_state(ctx, guard, summary.offline)
    summary.public = await save_public_copies(ctx, summary)  # the checks are committed by now
    summary.notified = await notify_pass(ctx, summary.offline)
    summary.seconds = time.monotonic() - started
    return summary


async def _one(
    ctx: CheckContext, source_id: int, guard: PassGuard, summary: PassSummary,
    progress: Progress | None,
) -> None:
    try:
        outcome = await check_source(ctx, source_id, guard)
    except asyncio.CancelledError:
        raise
    except Exception:
        summary.errors += 1
        log.exception("check of source %s failed inside the monitor", source_id)
        return
    if outcome.deferred:
        summary.deferred += 1
        log.info("deferred source=%s url=%s: %s", outcome.source_id, outcome.url, outcome.reason)
        return
    summary.checked += 1
    summary.signals[outcome.signal] += 1
    summary.changed += any(e.kind == "changed" for e in outcome.events)
    summary.failed += outcome.failed
    summary.extracted += outcome.extraction == "full"
    summary.fingerprint += outcome.extraction == "fingerprint"
    summary.outcomes.append(outcome)
    _log_outcome(outcome)
    if progress:
        progress(outcome)


def _log_outcome(outcome: CheckOutcome) -> None:
    for event in outcome.events:
        level = logging.WARNING if event.kind not in NOT_ALERTS else (
            logging.DEBUG if event.kind == "archived" else logging.INFO)
        log.log(level, "%s source=%s url=%s: %s", event.kind, outcome.source_id, outcome.url,
                event.summary)
    if outcome.failed and not outcome.events and not outcome.offline:
        log.info("failed source=%s url=%s: %s", outcome.source_id, outcome.url, outcome.reason)
    log.debug("checked source=%s url=%s signal=%s", outcome.source_id, outcome.url, outcome.signal)


def _lease(ctx: CheckContext) -> timedelta:
    fetch = ctx.settings.fetch
    return fetch.timeout * (fetch.max_redirects + 1) + timedelta(minutes=5)


def _canary_probe(ctx: CheckContext) -> Probe | None:
    urls = ctx.settings.health.canary_urls
    if not urls:
        return None

    async def probe() -> bool:
        for url in urls:
            result = await ctx.fetcher.fetch(url)
            if not isinstance(result, FetchError):
                return True
        return False

    return probe


def _record_network_state(ctx: CheckContext, guard: PassGuard, offline: bool) -> None:
    """One ``offline`` event when the monitor loses the network and one ``online`` when it is
    back, not one per pass."""
    with session(ctx.engine) as db:
        last = db.exec(
            select(Event).where(col(Event.source_id).is_(None))
            .where(col(Event.kind).in_(["offline", "online"]))
            .order_by(col(Event.at).desc()).limit(1)
        ).first()
        was_offline = last is not None and last.kind == "offline"
        tried, failing = guard.hosts
        if offline == was_offline or (not offline and failing == tried):
            return
        details = {"hosts_tried": tried, "hosts_failing": failing}
        if offline:
            event = new_event("offline", ctx.clock.now(),
                              f"network unreachable: {failing} of {tried} hosts failed below HTTP; "
                              "nothing judged while offline", severity="major", details=details)
        else:
            event = new_event("online", ctx.clock.now(), "network reachable again",
                              details=details)
        db.add(event)
        db.commit()


async def dispatch_due(ctx: CheckContext, progress: Progress | None = None) -> PassSummary | None:
    """One dispatcher tick: run the sources that are due, if any."""
    with session(ctx.engine) as db:
        ids = due_source_ids(db, ctx.clock.now(), ctx.settings.schedule.batch)
    if not ids:
        retried = await notify_pass(ctx)  # failed messages are due on their own time, not a pass's
        if retried:
            log.info(retried)
        return None
    summary = await run_pass(ctx, ids, progress)
    log.info(summary.line())
    return summary
