"""``monitor run`` on PostgreSQL: the dispatcher. It checks nothing itself.

Every ``schedule.tick`` it queues a ``dispatch`` job through procrastinate's periodic
deferral, which the database deduplicates by tick: run two dispatchers (on two machines,
for availability) and each tick still runs once. The tick job, run by whichever dispatcher
takes it:

- queues a ``check`` job for each due source (one queued job per source at most: its
  queueing lock refuses a second one; a source being checked right now is left alone);
- hands the jobs of a worker whose heartbeat is older than ``distributed.stalled_after``
  (killed, frozen, its machine gone) back to the queue, for another worker;
- runs the notification step the embedded daemon runs at the end of each pass.

SIGINT/SIGTERM stop it cleanly (a running tick gets ``schedule.grace``); the heartbeat file
the embedded daemon writes is written here too, so ``monitor health`` works the same.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

from procrastinate import App, exceptions
from procrastinate.jobs import Job, Status
from sqlalchemy import update
from sqlmodel import col, select

from monitor.check import CheckContext
from monitor.daemon import HEARTBEAT, write_heartbeat
from monitor.distributed.tasks import (
    CHECK_TASK,
    CHECKS,
    DISPATCH,
    DISPATCH_TASK,
    due_mark,
    job_owner,
    source_lock,
)
from monitor.notify.step import notify_pass
from monitor.settings import Settings
from monitor.store import session
from monitor.store.models import Source
from monitor.store.sources import due_source_ids

log = logging.getLogger("monitor.dispatcher")
TICK_ID = "tick"  # the periodic id under which the database tells ticks apart


def worker_options(settings: Settings) -> dict[str, Any]:
    """What every procrastinate worker of the monitor shares (heartbeats, stop, clean-up)."""
    distributed = settings.distributed
    return {
        "update_heartbeat_interval": distributed.heartbeat.total_seconds(),
        "stalled_worker_timeout": distributed.stalled_after.total_seconds(),
        "shutdown_graceful_timeout": settings.schedule.grace.total_seconds(),
        # new jobs wake workers at once (LISTEN/NOTIFY); a job handed back after a stall or
        # freed by its source's lock does not, and is found by polling, within a tick
        "fetch_job_polling_interval": min(max(settings.schedule.tick.total_seconds(), 0.2), 5.0),
        "delete_jobs": "successful",  # failed jobs stay for a look; done ones would pile up
        "install_signal_handlers": False,  # the monitor stops on its own signals
    }


class Dispatcher:
    def __init__(self, ctx: CheckContext, app: App) -> None:
        self._ctx = ctx
        self._app = app
        self._stop = asyncio.Event()
        self._heartbeat = ctx.settings.archive_dir / HEARTBEAT
        self.ticks = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stop)
        options = {**worker_options(self._ctx.settings), "name": "dispatcher", "concurrency": 1,
                   "queues": [DISPATCH], "additional_context": {"tick": self.tick}}
        worker = asyncio.create_task(self._app.run_worker_async(**options))
        side = [asyncio.create_task(self._ticker()), asyncio.create_task(self._beats())]
        log.info("dispatcher started: pid=%s home=%s tick=%ss", os.getpid(), self._ctx.settings.home,
                 self._tick_s)
        try:
            stopping = asyncio.create_task(self._stop.wait())
            await asyncio.wait([stopping, worker, *side], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
        finally:
            for task in [*side, worker]:
                task.cancel()
            results = await asyncio.gather(*side, worker, return_exceptions=True)
            self._heartbeat.unlink(missing_ok=True)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        for result in results:  # a side task or the worker that died is not a clean stop
            if isinstance(result, Exception):
                raise result
        log.info("dispatcher stopped after %s ticks", self.ticks)

    @property
    def _tick_s(self) -> float:
        return self._ctx.settings.schedule.tick.total_seconds()

    async def _ticker(self) -> None:
        """Queue the tick job once per tick; the database keeps one per tick number."""
        task = self._app.tasks[DISPATCH_TASK]
        while True:
            number = int(time.time() // self._tick_s)
            deferrer = task.configure(queueing_lock=DISPATCH, task_kwargs={"timestamp": number})
            try:
                await self._app.job_manager.defer_periodic_job(
                    deferrer.job, periodic_id=TICK_ID, defer_timestamp=number)
            except exceptions.AlreadyEnqueued:
                log.debug("tick %s: the last tick is still queued", number)
            await asyncio.sleep((number + 1) * self._tick_s - time.time())

    async def _beats(self) -> None:
        while True:
            write_heartbeat(self._heartbeat, self._ctx.clock.now(), self._tick_s)
            await asyncio.sleep(min(self._tick_s, 15.0))

    async def tick(self) -> str:
        """One tick: queue the due checks, retry the stalled ones, notify."""
        queued, busy, waiting = await defer_due(self._ctx, self._app)
        retried = await retry_stalled(self._ctx, self._app)
        notified = await notify_pass(self._ctx)
        self.ticks += 1
        parts = [f"tick: {queued} checks queued"]
        if waiting:
            parts.append(f"{waiting} still queued from earlier ticks")
        if busy:
            parts.append(f"{busy} being checked")
        if retried:
            parts.append(f"{retried} stalled jobs handed to other workers")
        if notified:
            parts.append(notified)
        line = ", ".join(parts)
        if queued or retried or notified:
            log.info(line)
        return line


async def defer_due(ctx: CheckContext, app: App) -> tuple[int, int, int]:
    """Queue a check of each due source: (queued, being checked, already queued)."""
    now = ctx.clock.now()
    with session(ctx.engine) as db:
        ids = due_source_ids(db, now, ctx.settings.schedule.batch)
        rows = db.exec(select(Source.id, Source.next_check_at, Source.lease_until)
                       .where(col(Source.id).in_(ids))).all() if ids else []
    queued_before = {job.queueing_lock for job in
                     await app.job_manager.list_jobs_async(queue=CHECKS, status="todo")}
    jobs: list[Job] = []
    busy = waiting = 0
    for source_id, next_check_at, lease_until in sorted(rows, key=_due_order):
        if source_id is None:
            continue
        if lease_until is not None and lease_until > now:
            busy += 1  # its check is running; a second job would only wait for it, then skip
        elif source_lock(source_id) in queued_before:
            waiting += 1  # no worker free yet; the job queued earlier will do
        else:
            deferrer = app.configure_task(CHECK_TASK, lock=source_lock(source_id),
                                          queueing_lock=source_lock(source_id))
            jobs.append(deferrer.make_new_job(source_id=source_id, due_at=due_mark(next_check_at)))
    queued = await _defer_all(app, jobs)
    return queued, busy, waiting + len(jobs) - queued


async def _defer_all(app: App, jobs: list[Job]) -> int:
    """One statement for the lot; one by one when another dispatcher queued some meanwhile."""
    if not jobs:
        return 0
    try:
        await app.job_manager.batch_defer_jobs_async(jobs)
        return len(jobs)
    except exceptions.AlreadyEnqueued:
        queued = 0
        for job in jobs:
            try:
                await app.job_manager.defer_job_async(job)
                queued += 1
            except exceptions.AlreadyEnqueued:
                continue
        return queued


def _due_order(row: tuple[int | None, datetime | None, datetime | None]) -> datetime:
    return row[1] or datetime.min.replace(tzinfo=UTC)


async def retry_stalled(ctx: CheckContext, app: App) -> int:
    """Requeue the running jobs of workers silent for ``distributed.stalled_after``."""
    manager = app.job_manager
    seconds = ctx.settings.distributed.stalled_after.total_seconds()
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds):
        try:
            await manager.retry_job(job)
        except exceptions.UniqueViolation:
            await _give_up(ctx, app, job)  # a newer job of the same source is queued: it will do
            continue
        except exceptions.ConnectorException as exc:  # another dispatcher requeued it first
            log.info("job %s of a stalled worker not handed on: %s", job.id, exc)
            continue
        log.warning("job %s %s of a stalled worker handed to another worker", job.id, job.call_string)
        retried += 1
    return retried


async def _give_up(ctx: CheckContext, app: App, job: Job) -> None:
    """End a stalled job whose source has a newer job queued: while it stays ``doing``, its
    lock keeps the newer one from running. procrastinate ends a running job only as
    succeeded, failed or aborted (``cancelled`` is for jobs not started); aborted says it."""
    try:
        await app.job_manager.finish_job(job, status=Status.ABORTED, delete_job=False)
    except exceptions.ConnectorException as exc:  # another dispatcher ended it first
        log.info("job %s of a stalled worker not dropped: %s", job.id, exc)
        return
    log.warning("job %s %s of a stalled worker dropped: a newer job does its work",
                job.id, job.call_string)
    with session(ctx.engine) as db:  # and its lease, so the newer job may check at once
        db.exec(update(Source).where(col(Source.lease_owner) == job_owner(job.id))
                .values(lease_until=None, lease_owner=None))
        db.commit()
