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
from monitor.shards import run_sharded, split_by_host
from monitor.store import session
from monitor.store.commit import GroupCommit
from monitor.store.models import Event, Source
from monitor.store.sources import CheckInputs, check_inputs, claim, due_source_ids, release

log = logging.getLogger("monitor.schedule")
Progress = Callable[[CheckOutcome], None]
KEPT = 10_000  # outcomes with events a pass summary lists; the rest are counted (and in the DB)


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
    outcomes: list[CheckOutcome] = field(default_factory=list)  # those with events, up to KEPT
    unlisted: int = 0  # outcomes with events beyond KEPT, left out of ``outcomes``
    errored: set[int] = field(default_factory=set)  # sources whose check failed in the monitor

    def add(self, outcome: CheckOutcome) -> None:
        """Count one check. Only outcomes with events are kept (they are what callers list),
        and at most KEPT of them: memory stays bounded however big the pass."""
        if outcome.deferred:
            self.deferred += 1
            log.info("deferred source=%s url=%s: %s", outcome.source_id, outcome.url, outcome.reason)
            return
        self.checked += 1
        self.signals[outcome.signal] += 1
        self.changed += any(e.kind == "changed" for e in outcome.events)
        self.failed += outcome.failed
        self.extracted += outcome.extraction == "full"
        self.fingerprint += outcome.extraction == "fingerprint"
        if outcome.events and len(self.outcomes) < KEPT:
            self.outcomes.append(outcome)
        elif outcome.events:
            self.unlisted += 1

    def merge(self, other: PassSummary) -> None:
        """Add up another part of the same pass (a shard's)."""
        for name in ("checked", "changed", "failed", "errors", "deferred", "extracted", "fingerprint",
                     "unlisted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.offline |= other.offline
        self.signals.update(other.signals)
        room = max(0, KEPT - len(self.outcomes))
        self.outcomes.extend(other.outcomes[:room])
        self.unlisted += len(other.outcomes[room:])
        self.errored |= other.errored

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
    """Check these sources concurrently (the fetcher enforces the limits) and sum up.

    The sources go in chunks of ``schedule.batch``: each chunk is claimed and read in a few
    queries and has its own offline guard. Checks of the next chunk start while the last
    ones of a chunk are still waiting on a slow host, yet at most two chunks' worth are in
    memory at once; a pass of 100,000 sources never holds them all. Their rows are
    committed in groups (monitor/store/commit.py), after one fsync of the WARC records.
    A pass of at least ``schedule.shard_min`` sources is split by host over the context's
    shard processes (monitor/shards.py), once they are ready: their start-up (~1 s, once for
    a daemon) is not the pass's time, and the pass ends no later for it, since the last group
    to finish is theirs either way.
    """
    groups = shard_groups(ctx, source_ids)
    if groups is not None:
        assert ctx.shards is not None
        await ctx.shards.ready()
    started = time.monotonic()
    if groups is None:
        summary = await check_sources(ctx, source_ids, progress)
    else:
        summary = await run_sharded(ctx, groups, lambda group: check_sources(ctx, group, progress))
    return await _conclude(ctx, summary, started)


async def check_sources(ctx: CheckContext, source_ids: list[int],
                        progress: Progress | None = None) -> PassSummary:
    """The checks of a pass over these sources, without its notifications: all of a pass in
    one process, or one shard's part of it."""
    size = ctx.settings.schedule.batch
    chunks = (source_ids[i:i + size] for i in range(0, len(source_ids), size))
    return await _check_chunks(ctx, lambda _: next(chunks, []), progress)


def shard_groups(ctx: CheckContext, source_ids: list[int]) -> list[list[int]] | None:
    """The groups of a pass big enough to split over the shard processes, else None."""
    if ctx.shards is None or len(source_ids) < ctx.settings.schedule.shard_min:
        return None
    with session(ctx.engine) as db:
        known = dict(db.exec(select(Source.id, Source.url)).all())
    urls = {i: known[i] for i in source_ids if i in known}
    groups = split_by_host(urls, ctx.shards.shards)
    return groups if len(groups) > 1 else None


async def _run(ctx: CheckContext, next_chunk: Callable[[PassSummary], list[int]],
               progress: Progress | None) -> PassSummary:
    """A pass over the chunks ``next_chunk`` gives (one at a time, none: the end)."""
    started = time.monotonic()
    return await _conclude(ctx, await _check_chunks(ctx, next_chunk, progress), started)


async def _conclude(ctx: CheckContext, summary: PassSummary, started: float) -> PassSummary:
    """What a pass does once its checks are committed: public copies, notifications, its time."""
    summary.public = await save_public_copies(ctx, summary)
    summary.notified = await notify_pass(ctx, summary.offline)
    summary.seconds = time.monotonic() - started
    return summary


async def _check_chunks(ctx: CheckContext, next_chunk: Callable[[PassSummary], list[int]],
                        progress: Progress | None) -> PassSummary:
    summary = PassSummary()
    room = asyncio.Semaphore(2 * ctx.settings.schedule.batch)
    ctx.archive.defer_sync()  # the group commit fsyncs once per batch, before it commits
    async with GroupCommit(ctx.engine, before_commit=ctx.archive.sync) as committer:
        chunks: list[asyncio.Task[None]] = []
        try:
            while ids := next_chunk(summary):
                batch = Batch(ctx, summary, committer, room, progress)
                chunks.append(await batch.start(ids))
            await asyncio.gather(*chunks)
        finally:
            for chunk in chunks:
                chunk.cancel()
            await asyncio.gather(*chunks, return_exceptions=True)
    return summary


@dataclass
class Batch:
    """One chunk of a pass: claimed, read and guarded together, its checks run as tasks."""

    ctx: CheckContext
    summary: PassSummary
    committer: GroupCommit
    room: asyncio.Semaphore  # checks in flight over the whole pass
    progress: Progress | None

    async def start(self, source_ids: list[int]) -> asyncio.Task[None]:
        """Claim and read the chunk, start its checks as room allows; a task that ends when
        they are all done (and their leases are released)."""
        ctx = self.ctx
        with session(ctx.engine) as db:
            ids = claim(db, source_ids, ctx.clock.now(), _lease(ctx))
            inputs = check_inputs(db, ids)
        guard = PassGuard(len(ids), ctx.settings.health, _canary_probe(ctx))
        tasks: list[asyncio.Task[None]] = []
        try:
            for source_id in ids:
                await self.room.acquire()
                task = asyncio.create_task(self._one(source_id, guard, inputs.pop(source_id, None)))
                task.add_done_callback(lambda _: self.room.release())
                tasks.append(task)
        except BaseException:
            await self._finish(ids, tasks, guard, cancel=True)
            raise
        return asyncio.create_task(self._finish(ids, tasks, guard))

    async def _finish(self, ids: list[int], tasks: list[asyncio.Task[None]], guard: PassGuard,
                      cancel: bool = False) -> None:
        try:
            if cancel:
                for task in tasks:
                    task.cancel()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            with session(self.ctx.engine) as db:
                release(db, ids)  # a check that crashed or was cancelled must not stay leased
        self.summary.offline |= guard.decided_offline
        _record_network_state(self.ctx, guard, guard.decided_offline)

    async def _one(self, source_id: int, guard: PassGuard, inputs: CheckInputs | None) -> None:
        summary = self.summary
        try:
            outcome = await check_source(self.ctx, source_id, guard, inputs=inputs,
                                         committer=self.committer)
        except asyncio.CancelledError:
            raise
        except Exception:
            summary.errors += 1
            summary.errored.add(source_id)
            log.exception("check of source %s failed inside the monitor", source_id)
            return
        summary.add(outcome)
        if not outcome.deferred:
            _log_outcome(outcome)
            if self.progress:
                self.progress(outcome)


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
    """One dispatcher tick: run the sources that are due, if any, ``schedule.batch`` at a time
    until none is left; a backlog bigger than a batch does not wait for the next tick."""
    tick, size = ctx.clock.now(), ctx.settings.schedule.batch

    def due(summary: PassSummary) -> list[int]:
        # due at the tick's start and not leased: a finished check is due later, one in flight
        # is leased; a check that failed inside the monitor is not tried twice in a tick
        with session(ctx.engine) as db:
            return due_source_ids(db, tick, size, leased=False, exclude=summary.errored)

    first = [due(PassSummary())]
    if not first[0]:
        retried = await notify_pass(ctx)  # failed messages are due on their own time, not a pass's
        if retried:
            log.info(retried)
        return None
    if ctx.shards is not None and len(first[0]) == size:  # a backlog: maybe one for the shards
        with session(ctx.engine) as db:
            backlog = due_source_ids(db, tick, 2**31 - 1, leased=False)
        if len(backlog) >= ctx.settings.schedule.shard_min:
            summary = await run_pass(ctx, backlog, progress)
            log.info(summary.line())
            return summary
    summary = await _run(ctx, lambda s: first.pop() if first else due(s), progress)
    log.info(summary.line())
    return summary
