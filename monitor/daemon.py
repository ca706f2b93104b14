"""``monitor run``: the daemon. APScheduler ticks the dispatcher; SIGINT/SIGTERM stop it cleanly.

On stop, in-flight checks get ``schedule.grace`` to finish and are then cancelled;
a cancelled check has committed nothing, and at most left a complete WARC record
no row points to, so nothing is corrupted. A heartbeat file lets ``monitor
health`` (the container health check) tell a live daemon from a hung one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.check import CheckContext
from monitor.clock import iso, parse_time
from monitor.schedule import dispatch_due

log = logging.getLogger("monitor.daemon")
HEARTBEAT = "daemon.json"


class Daemon:
    def __init__(self, ctx: CheckContext) -> None:
        self._ctx = ctx
        self._stop = asyncio.Event()
        self._current: asyncio.Task[object] | None = None
        self._heartbeat = ctx.settings.archive_dir / HEARTBEAT
        self.passes = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stop)
        scheduler = AsyncIOScheduler(event_loop=loop)
        tick = self._ctx.settings.schedule.tick.total_seconds()
        scheduler.add_job(self._tick, "interval", seconds=tick, next_run_time=datetime.now(),
                          max_instances=1, coalesce=True, id="dispatch", misfire_grace_time=None)
        scheduler.add_job(self._beat, "interval", seconds=min(tick, 15.0), id="heartbeat",
                          max_instances=1, coalesce=True)
        # alive from the start: the interval job's first run is min(tick, 15) s away, later
        # still behind a first pass that keeps the loop busy, and `monitor health` meanwhile
        # reported a live daemon as having no heartbeat
        self._beat()
        scheduler.start()
        log.info("daemon started: pid=%s home=%s tick=%ss", os.getpid(),
                 self._ctx.settings.home, tick)
        try:
            await self._stop.wait()
        finally:
            scheduler.pause()  # no new passes; shutdown() would cancel the running one
            await self._finish_in_flight()
            scheduler.shutdown(wait=False)
            self._heartbeat.unlink(missing_ok=True)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        log.info("daemon stopped after %s passes", self.passes)

    async def _tick(self) -> None:
        if self._stop.is_set():
            return
        self._current = asyncio.create_task(dispatch_due(self._ctx))
        try:
            if await asyncio.shield(self._current) is not None:
                self.passes += 1
        except asyncio.CancelledError:
            log.warning("pass abandoned at shutdown")
        except Exception:
            log.exception("pass failed inside the monitor")
        finally:
            self._current = None

    async def _finish_in_flight(self) -> None:
        task = self._current
        if task is None or task.done():
            return
        grace = self._ctx.settings.schedule.grace.total_seconds()
        log.info("stopping: giving in-flight checks %.0fs to finish", grace)
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _beat(self) -> None:
        write_heartbeat(self._heartbeat, self._ctx.clock.now(),
                        self._ctx.settings.schedule.tick.total_seconds())


def write_heartbeat(path: Path, now: datetime, tick_s: float) -> None:
    """What ``daemon_health`` reads: this process is alive and ticking (the dispatcher writes it too)."""
    data = {"pid": os.getpid(), "at": iso(now), "tick_s": tick_s}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def daemon_health(archive_dir: Path, now: datetime) -> tuple[bool, str]:
    """Whether a daemon is alive and ticking in this home (the container health check)."""
    path = archive_dir / HEARTBEAT
    try:
        data = json.loads(path.read_text())
        pid, at, tick = int(data["pid"]), parse_time(data["at"]), float(data["tick_s"])
    except (OSError, ValueError, KeyError):
        return False, f"no daemon heartbeat in {path}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"daemon pid {pid} is not running"
    except PermissionError:
        pass
    age = (now - at).total_seconds()
    if age > 60 + min(tick, 15.0) * 3:
        return False, f"daemon pid {pid} last ticked {age:.0f}s ago"
    return True, f"daemon pid {pid} ticked {age:.0f}s ago"
