"""What the dashboard and the API change: add, pause, resume, remove, check now, ack, mute.

The same functions the CLI's store operations use; the web adds the URL guard and the
check runner (a pass over the named sources, with the leases that keep a source from
being checked twice at once, also against a daemon in another process).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from monitor.check import CheckContext
from monitor.events import KINDS
from monitor.guard import check_url
from monitor.home import Home
from monitor.schedule import PassSummary, run_pass
from monitor.store.models import Event, Source
from monitor.store.sources import add_source, purge_source, set_paused

log = logging.getLogger("monitor.web")


async def add(db: Session, home: Home, url: str, now: datetime, *, title: str | None = None,
              outlet: str | None = None, cited_at: datetime | None = None) -> tuple[Source, bool]:
    """Watch ``url`` (refused when it points into a private network, see guard.py)."""
    await check_url(url, allow_private=home.settings.web.allow_private_urls)
    source, new = add_source(db, url, now, title=title, outlet=outlet, origin="web")
    if source.paused:
        set_paused(source, False, now)
    if cited_at is not None:
        source.cited_at = cited_at
    db.commit()
    return source, new


def remove(db: Session, source: Source, now: datetime, *, purge: bool = False) -> None:
    if purge:
        purge_source(db, source)
    else:
        set_paused(source, True, now, "removed")
    db.commit()


def pause(db: Session, source: Source, now: datetime, paused: bool) -> None:
    set_paused(source, paused, now, "user")
    db.commit()


def ack(db: Session, event_ids: list[str], now: datetime) -> int:
    """Mark events seen; returns how many were not acknowledged before."""
    result = db.exec(update(Event).where(col(Event.id).in_(event_ids), col(Event.acked_at).is_(None))
                     .values(acked_at=now))
    db.commit()
    return int(result.rowcount or 0)


def ack_source(db: Session, source_id: int, now: datetime) -> int:
    result = db.exec(update(Event).where(col(Event.source_id) == source_id,
                                         col(Event.acked_at).is_(None)).values(acked_at=now))
    db.commit()
    return int(result.rowcount or 0)


def mute(db: Session, source: Source, kinds: list[str], until: datetime | None) -> None:
    """Mute ``kinds`` of the source's events ("*": all) until ``until`` (None: until unmuted)."""
    unknown = [k for k in kinds if k != "*" and k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds: {', '.join(unknown) or '(none given)'} is not an event kind "
                         f"(use * or {', '.join(KINDS)})")
    source.muted_kinds, source.muted_until = sorted(set(kinds)), until
    db.commit()


def unmute(db: Session, source: Source) -> None:
    source.muted_kinds, source.muted_until = [], None
    db.commit()


class CheckRunner:
    """"Check now": runs a pass over the named sources in the web process's event loop.

    With ``monitor run --web`` it shares the daemon's check context; with ``monitor serve``
    it opens one on the first check and keeps it until shutdown.
    """

    def __init__(self, home: Home, ctx: CheckContext | None = None) -> None:
        self._home = home
        self._ctx = ctx
        self._stack = AsyncExitStack()
        self._tasks: set[asyncio.Task[PassSummary]] = set()
        self.running: set[int] = set()

    async def _context(self) -> CheckContext:
        if self._ctx is None:
            self._ctx = await self._stack.enter_async_context(self._home.check_context())
        return self._ctx

    async def start(self, ids: list[int]) -> asyncio.Task[PassSummary]:
        ctx = await self._context()
        self.running.update(ids)
        task = asyncio.create_task(run_pass(ctx, ids))
        self._tasks.add(task)

        def done(finished: asyncio.Task[PassSummary]) -> None:
            self._tasks.discard(finished)
            self.running.difference_update(ids)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("check now of %s failed inside the monitor: %s", ids, finished.exception())

        task.add_done_callback(done)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stack.aclose()
