"""Out to many: ``monitor run`` dispatches through PostgreSQL and ``monitor worker`` processes check.

Tiered as procrastinate's own tests are: host slots on a real PostgreSQL; the dispatcher and
a worker in this process, against the embedded mode's results; then real processes (two
workers and the dispatcher) over the test site, one of them killed mid-check.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from procrastinate.jobs import Status
from sqlalchemy import text
from sqlmodel import col, select

from monitor.clock import ManualClock
from monitor.distributed.app import build_app, conninfo, ensure_schema
from monitor.distributed.dispatcher import Dispatcher, _defer_all
from monitor.distributed.locks import SessionLocks
from monitor.distributed.tasks import CHECK_TASK, CHECKS, due_mark, source_lock
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import Capture, Event, Source, Version
from tests.conftest import (
    PARAGRAPHS,
    add_sources,
    checking,
    one_pass,
    publish,
    run_cli,
    source_row,
    wait_for,
)
from tests.site import NewsSite

pytestmark = pytest.mark.postgres

INTERVAL = 3.0  # seconds between checks of a source in the process test
PROCESS_ENV = {
    "MONITOR_SCHEDULE__TICK": "0.5s",
    "MONITOR_SCHEDULE__INTERVAL": f"{INTERVAL}s",
    "MONITOR_SCHEDULE__JITTER": "0",
    "MONITOR_SCHEDULE__GRACE": "1s",
    "MONITOR_DISTRIBUTED__HEARTBEAT": "0.5s",
    "MONITOR_DISTRIBUTED__STALLED_AFTER": "2s",
    "MONITOR_FETCH__PER_HOST": "1",
    "MONITOR_FETCH__TIMEOUT": "25s",  # the hanging request must outlast the kill
    "MONITOR_HEALTH__PROBE": "false",
}


@pytest.fixture
def pg_home(home_dir: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """A home whose tables are on a fresh PostgreSQL database."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", pg_url)
    home = open_home(home_dir)
    yield home
    home.engine.dispose()


# --- host slots: the per-host limit over processes ---------------------------------------

async def _overlap(slots: list[SessionLocks], host: str, hold: float) -> int:
    """How many of these holders (one per process) were inside a slot of ``host`` at once."""
    inside = peak = 0

    async def fetch(holder: SessionLocks) -> None:
        nonlocal inside, peak
        async with holder.slot(host):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(hold)
            inside -= 1

    await asyncio.gather(*(fetch(h) for h in slots))
    return peak


def test_host_slots_bound_a_host_over_processes_and_within_one(pg_url: str) -> None:
    dsn = conninfo(pg_url)

    async def run() -> tuple[int, int, int, int]:
        one_a, one_b = SessionLocks(dsn, 1), SessionLocks(dsn, 1)  # two sessions: two processes
        two_a, two_b = SessionLocks(dsn, 2), SessionLocks(dsn, 2)
        try:
            across = await _overlap([one_a, one_b, one_a, one_b], "a.test:80", 0.1)
            within = await _overlap([one_a, one_a, one_a], "b.test:80", 0.1)  # re-entrant locks
            two = await _overlap([two_a, two_b, two_a, two_b], "a.test:80", 0.2)
            other_host = await _overlap([one_a, one_b], "c.test:80", 0.0)
            return across, within, two, other_host
        finally:
            for holder in (one_a, one_b, two_a, two_b):
                await holder.close()

    across, within, two, _ = asyncio.run(run())
    assert (across, within) == (1, 1)
    assert two == 2  # the measure sees overlap where it is allowed


def test_a_source_is_held_by_one_check_over_processes_and_within_one(pg_url: str) -> None:
    dsn = conninfo(pg_url)

    async def run() -> list[bool]:
        one, two = SessionLocks(dsn, 1), SessionLocks(dsn, 1)
        try:
            async with one.source(7) as first:
                async with two.source(7) as other_process, one.source(7) as same_process:
                    seen = [first, other_process, same_process]
                async with two.source(8) as another_source:
                    seen.append(another_source)
            async with two.source(7) as after:
                return [*seen, after]
        finally:
            await one.close()
            await two.close()

    assert asyncio.run(run()) == [True, False, False, True, True]


def test_a_dead_process_frees_its_host_slots(pg_url: str) -> None:
    dsn = conninfo(pg_url)

    async def run() -> float:
        holder, other = SessionLocks(dsn, 1), SessionLocks(dsn, 1)
        try:
            async with holder.slot("a.test:80"):
                assert holder._conn is not None
                await holder._conn.close()  # as a SIGKILL drops the connection
                started = time.monotonic()
                async with other.slot("a.test:80"):
                    return time.monotonic() - started
        finally:
            await holder.close()
            await other.close()

    assert asyncio.run(run()) < 5


# --- in this process: the same story as the embedded mode ---------------------------------

def _story(site: NewsSite) -> tuple[list[str], Callable[[], None]]:
    urls = [publish(site, "apnews", "edited"), publish(site, "cnn", "removed"),
            publish(site, "reuters", "steady")]

    def happen() -> None:
        site.edit(urls[0], headline="RedNote's surge, corrected",
                  paragraphs=[*PARAGRAPHS[:2], "A correction was appended on Wednesday to the "
                              "figures given for new users, which were counted twice."])
        site.set_status(urls[1], 404)

    return urls, happen


def _results(home: Home) -> dict[str, tuple[str, list[str], list[str]]]:
    """Per source URL: its health, its event kinds in order, its versions' titles in order."""
    out: dict[str, tuple[str, list[str], list[str]]] = {}
    with session(home.engine) as db:
        for source in db.exec(select(Source).order_by(col(Source.id))).all():
            events = db.exec(select(Event.kind).where(col(Event.source_id) == source.id)
                             .order_by(col(Event.at), col(Event.id))).all()
            titles = db.exec(select(Version.title).where(col(Version.source_id) == source.id)
                             .order_by(col(Version.id))).all()
            out[source.url] = (source.health, list(events), [t or "" for t in titles])
    return out


def _distributed_pass(home: Home, clock: ManualClock, advance: timedelta) -> str:
    """One dispatcher tick, then a worker that runs what it queued and stops (wait=False)."""
    clock.advance(advance)

    async def run() -> str:
        dsn = conninfo(home.settings.db_url)
        await ensure_schema(dsn)
        app = build_app(dsn)
        async with checking(home, clock) as ctx, app.open_async():
            line = await Dispatcher(ctx, app).tick()
            await app.run_worker_async(queues=[CHECKS], wait=False, install_signal_handlers=False,
                                       additional_context={"check": ctx}, listen_notify=False)
            return line

    return asyncio.run(run())


def test_distributed_results_equal_the_embedded_modes(
    pg_home: Home, home_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = ManualClock().now()
    with NewsSite(outlets=["apnews", "cnn", "reuters"], static_outlets=["reuters"]) as site:
        urls, happen = _story(site)
        pg_clock = ManualClock(start)
        add_sources(pg_home, pg_clock, *urls)
        assert _distributed_pass(pg_home, pg_clock, timedelta(0)).startswith("tick: 3 checks queued")
        monkeypatch.delenv("MONITOR_DATABASE_URL")
        embedded = open_home(tmp_path / "embedded")
        sqlite_clock = ManualClock(start)
        ids = add_sources(embedded, sqlite_clock, *urls)
        one_pass(embedded, sqlite_clock, ids, advance=timedelta(0))
        happen()
        later = timedelta(hours=7)  # past the 6h interval and its 10% jitter: every source is due
        one_pass(embedded, sqlite_clock, ids, advance=later)
        assert _distributed_pass(pg_home, pg_clock, later).startswith("tick: 3 checks queued")
        assert _distributed_pass(pg_home, pg_clock, timedelta(0)).startswith("tick: 0 checks queued")
    expected = _results(embedded)
    embedded.engine.dispose()
    assert [kinds for _, kinds, _ in expected.values()] == [
        ["archived", "changed"], ["archived", "failing"], ["archived"]]  # the story happened
    assert _results(pg_home) == expected


def test_one_job_per_source_and_a_job_for_a_checked_period_does_nothing(
    pg_home: Home, site: NewsSite,
) -> None:
    clock = ManualClock()
    [source_id] = add_sources(pg_home, clock, publish(site, "apnews", "once"))
    first_due = source_row(pg_home, source_id).next_check_at

    async def run() -> tuple[str, str, list[str]]:
        dsn = conninfo(pg_home.settings.db_url)
        await ensure_schema(dsn)
        app = build_app(dsn)
        async with checking(pg_home, clock) as ctx, app.open_async():
            dispatcher = Dispatcher(ctx, app)
            first, second = await dispatcher.tick(), await dispatcher.tick()  # no worker yet
            # as if another dispatcher had queued it between our look and our insert
            twin = app.configure_task(CHECK_TASK, queueing_lock=source_lock(source_id))
            assert await _defer_all(app, [twin.make_new_job(source_id=source_id, due_at=None)]) == 0
            await app.run_worker_async(queues=[CHECKS], wait=False, install_signal_handlers=False,
                                       additional_context={"check": ctx}, listen_notify=False)
            # the job of a worker that died after its check committed, handed back: a no-op
            await app.configure_task(CHECK_TASK, lock=source_lock(source_id)).defer_async(
                source_id=source_id, due_at=due_mark(first_due))
            results: list[str] = []
            await app.run_worker_async(queues=[CHECKS], wait=False, install_signal_handlers=False,
                                       additional_context={"check": ctx}, listen_notify=False,
                                       worker_middleware=[_keep_results(results)])
            return first, second, results

    first, second, results = asyncio.run(run())
    assert first.startswith("tick: 1 checks queued")
    assert second.startswith("tick: 0 checks queued, 1 still queued from earlier ticks")
    assert results == [f"source {source_id}: skipped, already checked (next check "
                       f"{due_mark(source_row(pg_home, source_id).next_check_at)})"]
    assert len(_captures(pg_home)[source_id]) == 1
    assert source_row(pg_home, source_id).lease_until is None


def test_a_stalled_job_whose_source_was_queued_again_is_dropped_and_the_newer_job_checks(
    pg_home: Home, site: NewsSite, caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker dies after taking a job but before leasing its source: the next tick sees the
    source due and unleased and queues it again. The dead one's job, still ``doing``, holds
    the source's procrastinate lock; it cannot go back to ``todo`` beside the newer job (one
    queued job per source), so the dispatcher must end it, or the newer job never runs."""
    clock = ManualClock()
    [source_id] = add_sources(pg_home, clock, publish(site, "apnews", "orphaned"))
    due = due_mark(source_row(pg_home, source_id).next_check_at)

    async def run() -> tuple[int, str, str, Any, list[str]]:
        dsn = conninfo(pg_home.settings.db_url)
        await ensure_schema(dsn)
        app = build_app(dsn)
        async with checking(pg_home, clock) as ctx, app.open_async():
            manager = app.job_manager
            dead = await manager.register_worker()
            stalled = await app.configure_task(
                CHECK_TASK, lock=source_lock(source_id), queueing_lock=source_lock(source_id),
            ).defer_async(source_id=source_id, due_at=due)
            taken = await manager.fetch_job([CHECKS], dead)
            assert taken is not None and taken.id == stalled
            first = await Dispatcher(ctx, app).tick()  # its worker still beats: not stalled yet
            with pg_home.engine.begin() as connection:
                connection.execute(text("UPDATE procrastinate_workers SET last_heartbeat = "
                                        "now() - interval '1 hour' WHERE id = :id"), {"id": dead})
            second = await Dispatcher(ctx, app).tick()
            results: list[str] = []
            await app.run_worker_async(queues=[CHECKS], wait=False, install_signal_handlers=False,
                                       additional_context={"check": ctx}, listen_notify=False,
                                       worker_middleware=[_keep_results(results)])
            status = await manager.get_job_status_async(stalled)
            return stalled, first, second, status, results

    with caplog.at_level("WARNING", logger="monitor.dispatcher"):
        stalled, first, second, status, results = asyncio.run(run())
    assert first.startswith("tick: 1 checks queued")
    assert second.startswith("tick: 0 checks queued, 1 still queued from earlier ticks")
    assert status == Status.ABORTED
    assert f"job {stalled} " in caplog.text and "dropped: a newer job does its work" in caplog.text
    assert results == [f"source {source_id}: ok (archived)"]  # the newer job ran
    assert len(_captures(pg_home)[source_id]) == 1


def _keep_results(results: list[str]) -> Callable[..., Any]:
    async def middleware(process_job: Callable[[], Awaitable[Any]], *_: object) -> Any:
        result = await process_job()
        results.append(result)
        return result

    return middleware


# --- real processes: two workers and the dispatcher over the test site ---------------------

def _start(home: Path, pg_url: str, name: str, *args: str) -> subprocess.Popen[str]:
    """``monitor ARGS`` as its own process; ``name`` goes in its User-Agent and its log file."""
    env = {**os.environ, "MONITOR_HOME": str(home), "MONITOR_DATABASE_URL": pg_url, **PROCESS_ENV,
           "MONITOR_IDENTITY__NAME": name}
    with (home / f"{name}.log").open("w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen([sys.executable, "-m", "monitor", *args], env=env, cwd=home,
                                stdout=log, stderr=subprocess.STDOUT, text=True)


def _captures(home: Home) -> dict[int, list[float]]:
    """Per source, the start times of its checks (epoch seconds), in order."""
    times: defaultdict[int, list[float]] = defaultdict(list)
    with session(home.engine) as db:
        for source_id, at in db.exec(select(Capture.source_id, Capture.at).order_by(col(Capture.at))):
            times[source_id].append(at.timestamp())
    return times


def _stop(proc: subprocess.Popen[str], home: Path, name: str) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    log = (home / f"{name}.log").read_text()
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{log}"
    return log


def test_two_workers_check_each_source_once_per_period_and_a_killed_ones_check_is_retried(
    pg_home: Home, home_dir: Path, pg_url: str,
) -> None:
    outlets = ["apnews", "cnn", "reuters"]
    with NewsSite(outlets=[*outlets, "slow"]) as site:
        urls = [publish(site, outlet, f"story-{n}") for outlet in outlets for n in (1, 2)]
        slow = publish(site, "slow", "slow-story")
        for url in urls:
            site.hang(url, 0.3)  # two requests to one host would overlap: politeness is visible
        ids = add_sources(pg_home, ManualClock(datetime.now(UTC)), *urls, slow)

        def counts() -> dict[int, int]:
            found = _captures(pg_home)
            return {i: len(found.get(i, [])) for i in ids}

        names = ["worker-a", "worker-b"]
        workers = {n: _start(home_dir, pg_url, n, "worker", "--concurrency", "3") for n in names}
        dispatcher = _start(home_dir, pg_url, "dispatcher", "run")
        try:
            wait_for(lambda: min(counts().values()) >= 2, "two periods of checks", timeout=40)
            assert run_cli(home_dir, "health", env={"MONITOR_DATABASE_URL": pg_url}).code == 0
            hits = site.hits(slow)
            site.hang(slow, 20)
            wait_for(lambda: site.hits(slow) > hits, "a worker to start the hanging check")
            agent = site.requests(slow)[-1]["headers"]["user-agent"]
            victim = next(n for n in names if agent.startswith(f"{n}/"))
            killed = workers.pop(victim)
            killed.kill()  # SIGKILL, mid-check
            killed.wait()
            site.restore(slow)
            after_kill = counts()
            wait_for(lambda: all(counts()[i] >= after_kill[i] + 2 for i in ids),
                     "two more periods after the kill", timeout=90)
        finally:
            for name, proc in workers.items():
                worker_log = _stop(proc, home_dir, name)
            dispatcher_log = _stop(dispatcher, home_dir, "dispatcher")
        assert "dispatcher started" in dispatcher_log and "dispatcher stopped" in dispatcher_log
        assert "handed to another worker" in dispatcher_log, dispatcher_log
        assert "Traceback" not in worker_log, worker_log
        survivor = next(iter(workers))
        assert site.requests(slow)[-1]["headers"]["user-agent"].startswith(f"{survivor}/")
        agents = {r["headers"]["user-agent"].split("/")[0] for url in urls for r in site.requests(url)}
        assert agents == set(names)  # both workers checked
        # (not "slow": the server still sits on the killed worker's request when the retry comes)
        peaks = {outlet: site.peak_in_flight(outlet) for outlet in outlets}
    assert peaks == dict.fromkeys(outlets, 1)  # fetch.per_host=1 over both workers
    for source_id, times in _captures(pg_home).items():
        gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
        # once per period: never two checks within an interval; nothing lost: no long hole
        assert all(INTERVAL - 0.01 <= gap < INTERVAL + 12 for gap in gaps), (source_id, gaps)
    with pg_home.engine.connect() as conn:
        left = conn.execute(text("SELECT status, count(*) FROM procrastinate_jobs "
                                 "WHERE status IN ('doing', 'failed') GROUP BY status")).all()
    # none failed, none stuck (jobs queued by the last ticks may wait for the next worker)
    assert left == []


def test_monitor_worker_on_sqlite_is_one_clear_line(home_dir: Path) -> None:
    result = run_cli(home_dir, "worker")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "monitor worker needs PostgreSQL: MONITOR_DATABASE_URL is sqlite:" in lines[0]
