"""``monitor worker`` and ``monitor run`` on PostgreSQL: open the queue, then work or dispatch.

A worker process keeps one check context (engine, archive, fetcher, extractor pool, clock)
for its lifetime, as the embedded daemon does, and runs up to ``concurrency`` checks at once.
Its fetcher takes a host slot (monitor/distributed/locks.py) around every request, and each
check holds its source's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from monitor.clock import SystemClock
from monitor.distributed.app import build_app, conninfo, ensure_schema
from monitor.distributed.dispatcher import Dispatcher, worker_options
from monitor.distributed.locks import SessionLocks
from monitor.distributed.tasks import CHECKS
from monitor.fetch import Fetcher
from monitor.home import Home

log = logging.getLogger("monitor.distributed")


async def run_worker(home: Home, concurrency: int, queues: Sequence[str] = (CHECKS,)) -> None:
    """Run checks from the queue until SIGINT/SIGTERM (running checks get ``schedule.grace``)."""
    settings = home.settings
    dsn = conninfo(settings.db_url)
    if await ensure_schema(dsn):
        log.info("created the job queue's tables (procrastinate's schema)")
    clock = SystemClock()
    locks = SessionLocks(dsn, settings.fetch.per_host)
    fetcher = Fetcher(settings.fetch, settings.identity.user_agent(), clock, host_slot=locks.slot)
    app = build_app(dsn, pool_size=concurrency + 2)
    options = {**worker_options(settings), "name": "worker", "concurrency": concurrency,
               "queues": list(queues), "install_signal_handlers": True}
    try:
        async with home.check_context(clock, fetcher=fetcher) as ctx, app.open_async():
            log.info("worker started: queues=%s concurrency=%s", ",".join(queues), concurrency)
            await app.run_worker_async(**options, additional_context={"check": ctx, "locks": locks})
    finally:
        await locks.close()
    log.info("worker stopped")


async def run_dispatcher(home: Home) -> None:
    """``monitor run`` on PostgreSQL: dispatch due checks to the workers until SIGINT/SIGTERM."""
    dsn = conninfo(home.settings.db_url, "the dispatcher")
    if await ensure_schema(dsn):
        log.info("created the job queue's tables (procrastinate's schema)")
    app = build_app(dsn)
    async with home.check_context() as ctx, app.open_async():
        await Dispatcher(ctx, app).run()


def route_queue_logs(verbose: bool) -> None:
    """procrastinate's own lines (jobs started, failed, retried) through the monitor's log."""
    queue_log = logging.getLogger("procrastinate")
    queue_log.handlers[:] = logging.getLogger("monitor").handlers
    queue_log.setLevel(logging.INFO if verbose else logging.WARNING)
    queue_log.propagate = False
