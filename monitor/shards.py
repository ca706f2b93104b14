"""Shards: a big pass split over processes by host, so every core of the machine checks.

One process checks at most ~900 unchanged pages a second: a fetch, a revisit record and the
rows of a check cost about 1.1 ms of Python, all on the event loop's one core.
A pass of at least ``schedule.shard_min`` sources is therefore split into ``schedule.shards``
groups (0: one per core), each checked by its own process with its own HTTP client, WARC
file and group commit; SQLite's WAL (or PostgreSQL) takes their commits in turn.

- **By host.** Every source of a host is in one group, so ``fetch.per_host`` and a host's
  back-off hold exactly as in one process, and connections are reused as before. Hosts are
  dealt to the group with the fewest sources so far, largest host first.
- **The offline guard still votes.** Each group gets at least three hosts (the guard's
  quorum, monitor/health/offline.py); with fewer hosts there are fewer groups, down to one.
- **``fetch.concurrency`` holds over all of them.** Each process keeps its share of it.
- **One pass.** The first group is checked in this process, the others in worker processes
  that live as long as the check context (a daemon starts them once). The pass summary adds
  theirs up; notifications and public copies are sent once, after every group is committed.
  A worker that dies has its group counted as errors and its leases released.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.util import Finalize
from typing import TYPE_CHECKING, Any

from monitor.urls import host_of

if TYPE_CHECKING:
    from monitor.check import CheckContext
    from monitor.schedule import PassSummary
    from monitor.settings import Settings

log = logging.getLogger("monitor.shards")
QUORUM = 3  # hosts a group needs for its offline guard to vote (PassGuard)
STOP_POLL = 0.2  # seconds between a worker's looks at the pool's stop flag


def shard_count(setting: int) -> int:
    """``schedule.shards``: 0 means one per core this process may run on."""
    if setting:
        return setting
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def split_by_host(urls: dict[int, str], shards: int) -> list[list[int]]:
    """The sources (id -> URL, in pass order) in at most ``shards`` groups, each host's sources
    in one group, each group with at least QUORUM hosts, sizes as even as the hosts allow."""
    by_host: defaultdict[str, list[int]] = defaultdict(list)
    for source_id, url in urls.items():
        by_host[host_of(url)].append(source_id)
    count = min(shards, len(by_host) // QUORUM)
    if count < 2:
        return [list(urls)]
    group_of, sizes = {}, [0] * count
    hosts = [0] * count
    for host, ids in sorted(by_host.items(), key=lambda item: (-len(item[1]), item[0])):
        # the group with the fewest sources; a group short of its quorum first
        target = min(range(count), key=lambda g: (hosts[g] >= QUORUM, sizes[g], g))
        group_of[host], sizes[target], hosts[target] = target, sizes[target] + len(ids), hosts[target] + 1
    groups: list[list[int]] = [[] for _ in range(count)]
    for host, ids in by_host.items():
        groups[group_of[host]].extend(ids)
    order = {source_id: i for i, source_id in enumerate(urls)}
    return [sorted(group, key=order.__getitem__) for group in groups]


class ShardPool:
    """The worker processes that check the other groups of a sharded pass."""

    def __init__(self, settings: Settings, shards: int) -> None:
        self.shards = shards
        self._shard_min = settings.schedule.shard_min
        self._settings = _share(settings, shards)
        self._pool: ProcessPoolExecutor | None = None
        self._started: list[Future[None]] = []  # one per worker, done once it is ready
        self._stop: Any = None  # a shared byte: 1, the workers cancel their passes

    @classmethod
    def for_settings(cls, settings: Settings) -> ShardPool | None:
        """The pool ``schedule.shards`` asks for (its workers start on first use), or None."""
        shards = shard_count(settings.schedule.shards)
        return cls(settings, shards) if shards > 1 else None

    def start_for(self, sources: int) -> None:
        """Start the workers now if a pass of ``sources`` sources is split over them."""
        if sources >= self._shard_min:
            self.start()

    def start(self) -> None:
        """Start the workers now (they import the monitor and open their context meanwhile),
        so the pass does not wait for them; idempotent."""
        if self._pool is None:
            # spawn: a fresh interpreter, not a copy of a daemon with threads and an event loop
            context = multiprocessing.get_context("spawn")
            # polled, not an Event: Event.set() waits for every waiter to wake, a killed one never does
            self._stop = context.RawValue("b", 0)
            self._pool = ProcessPoolExecutor(self.shards - 1, mp_context=context, initializer=_worker_ready,
                                             initargs=(self._settings, self._stop))
            self._started = [self._pool.submit(_noop) for _ in range(self.shards - 1)]

    async def ready(self) -> None:
        """Start the workers if they are not, and wait until they have opened their contexts (a
        worker that failed to is the pass's to report, as a dead one)."""
        self.start()
        await asyncio.gather(*map(asyncio.wrap_future, self._started), return_exceptions=True)

    async def check(self, ids: list[int]) -> PassSummary:
        """Check these sources in a worker process; its pass summary."""
        self.start()
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, check_group, ids)

    def close(self) -> None:
        """Stop the workers: a pass still running in one is cancelled (its leases released, what
        it committed kept), as the daemon's own pass is after ``schedule.grace``."""
        if self._pool is not None:
            self._stop.value = 1
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._started = None, []


async def run_sharded(
    ctx: CheckContext, groups: list[list[int]],
    local: Callable[[list[int]], Coroutine[Any, Any, PassSummary]],
) -> PassSummary:
    """Check the first group with ``local`` in this process and the others in the shard
    workers; one summary of them all. The caller sends notifications afterwards."""
    from monitor.schedule import PassSummary
    from monitor.store import session
    from monitor.store.sources import release

    assert ctx.shards is not None
    pool, summary, limit = ctx.shards, PassSummary(), ctx.settings.fetch.concurrency
    async with ctx.fetcher.reserved(limit - _fetch_share(limit, pool.shards)):
        results = await asyncio.gather(local(groups[0]), *(pool.check(g) for g in groups[1:]),
                                       return_exceptions=True)
    for group, result in zip(groups, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, BrokenProcessPool | OSError):  # not a dead worker
                raise result
            log.error("a shard process died checking %s sources: %s", len(group), result)
            pool.close()  # a broken pool cannot be used again; the next pass starts new workers
            with session(ctx.engine) as db:
                release(db, group)
            summary.errors += len(group)
            summary.errored.update(group)
            continue
        summary.merge(result)
    return summary


def _share(settings: Settings, shards: int) -> Settings:
    """A worker's settings: its share of the global fetch limit and of the extraction workers."""
    concurrency = _fetch_share(settings.fetch.concurrency, shards)
    fetch = settings.fetch.model_copy(update={"concurrency": concurrency})
    workers = settings.extract.workers or shard_count(0)  # 0: one per core, as the pool reads it
    extract = settings.extract.model_copy(update={"workers": max(1, workers // shards)})
    schedule = settings.schedule.model_copy(update={"shards": 1})  # a worker does not split again
    return settings.model_copy(update={"fetch": fetch, "extract": extract, "schedule": schedule})


def _fetch_share(concurrency: int, shards: int) -> int:
    """Each process's share of ``fetch.concurrency`` in a sharded pass."""
    return math.ceil(concurrency / shards)


# ------------------------------------------------------------------ in a worker process


class _Worker:
    """A worker's one check context and event loop, kept between the passes it is given."""

    def __init__(self, settings: Settings, stop: Any) -> None:
        from monitor.config import SourcesFile
        from monitor.extract import Extractor
        from monitor.home import Home
        from monitor.store import open_engine

        self.loop = asyncio.new_event_loop()
        self.home = Home(settings, SourcesFile(path=settings.home, exists=False),
                         open_engine(settings.db_url, migrate=False))
        # a process pool even for one extraction worker: a thread would share this loop's GIL
        extractor = Extractor(settings.extract.workers, processes=True)
        self._context = self.home.check_context(extractor=extractor)
        self.ctx = self.loop.run_until_complete(self._context.__aenter__())
        # at the worker's exit (multiprocessing skips atexit), before the finalizers (priority
        # 10) of the extraction pool's queues: closed first, they would leave its shutdown hanging
        Finalize(self, self.close, exitpriority=100)
        self._task: asyncio.Task[PassSummary] | None = None
        threading.Thread(target=self._cancel_on, args=(stop,), daemon=True).start()

    def check(self, ids: list[int]) -> PassSummary:
        from monitor.schedule import check_sources

        self._task = self.loop.create_task(check_sources(self.ctx, ids))
        try:
            return self.loop.run_until_complete(self._task)
        finally:
            self._task = None

    def _cancel_on(self, stop: Any) -> None:
        while not stop.value:
            time.sleep(STOP_POLL)
        self.loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self.loop.run_until_complete(self._context.__aexit__(None, None, None))
        self.loop.close()
        self.home.engine.dispose()


_WORKER: _Worker | None = None


def _worker_ready(settings: Settings, stop: Any) -> None:
    """Pool initializer: Ctrl-C reaches the whole process group and is the parent's to handle
    (it cancels the pass and stops the pool); then open the context."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = _Worker(settings, stop)


def _noop() -> None:
    """Submitted once per worker by ShardPool.start, so each one is started right away."""


def check_group(ids: list[int]) -> PassSummary:
    """Check a group of a sharded pass in this worker process (its own pass, no notifying)."""
    assert _WORKER is not None, "the shard pool's initializer did not run"
    return _WORKER.check(ids)
