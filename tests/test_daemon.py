"""`monitor run`: the daemon checks on its interval, stops cleanly, and restarts with nothing lost."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.log import setup_logging
from tests.conftest import publish, run_cli, wait_for
from tests.site import NewsSite

pytestmark = pytest.mark.slow

DAEMON_ENV = {
    "MONITOR_SCHEDULE__TICK": "0.2s",
    "MONITOR_SCHEDULE__INTERVAL": "1s",
    "MONITOR_SCHEDULE__JITTER": "0",
    "MONITOR_SCHEDULE__GRACE": "1s",
}


def start_daemon(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "MONITOR_HOME": str(home), **DAEMON_ENV}
    return subprocess.Popen([sys.executable, "-m", "monitor", "run"], env=env, cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str], signum: int = signal.SIGTERM) -> str:
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err


def kinds(home: Path) -> list[str]:
    out = run_cli(home, "events", "--json").out
    return [json.loads(line)["kind"] for line in out.splitlines()]


def test_daemon_checks_on_interval_stops_and_restarts_without_loss(
    site: NewsSite, home_dir: Path
) -> None:
    url = publish(site, "apnews", "daemon")
    run_cli(home_dir, "add", url)
    proc = start_daemon(home_dir)
    wait_for(lambda: site.hits(url) >= 3, "three checks on a 1s interval")
    assert run_cli(home_dir, "health").code == 0
    err = stop(proc)
    assert "daemon started" in err and "daemon stopped" in err
    assert "pass: 1 checked" in err  # one summary line per pass
    assert run_cli(home_dir, "health").code == 1  # heartbeat gone with the daemon

    site.edit(url, headline="Edited while the daemon was down")
    proc = start_daemon(home_dir)
    wait_for(lambda: "changed" in kinds(home_dir), "the edit to be flagged")
    stop(proc, signal.SIGINT)
    assert kinds(home_dir) == ["archived", "changed"]
    warcs = [str(p) for p in (home_dir / "archive" / "warc").glob("*.warc.gz")]
    assert len(warcs) >= 2  # one file per process run
    assert subprocess.run(["warcio", "check", *warcs]).returncode == 0


def test_stop_during_a_hanging_check_abandons_it_cleanly(site: NewsSite, home_dir: Path) -> None:
    slow, quick = publish(site, "apnews", "slow"), publish(site, "cnn", "quick")
    run_cli(home_dir, "add", quick)
    run_cli(home_dir, "add", slow)
    site.hang(slow, seconds=30)
    proc = start_daemon(home_dir)
    wait_for(lambda: site.hits(slow) >= 1 and site.hits(quick) >= 1, "the hanging check to start")
    started = time.monotonic()
    err = stop(proc)
    assert time.monotonic() - started < 10  # grace is 1s, then in-flight checks are abandoned
    assert "pass abandoned" in err or "stopping" in err
    status = run_cli(home_dir, "status", "1")
    assert status.code == 0 and "alive" in status.out
    site.restore(slow)
    assert run_cli(home_dir, "check").code == 0  # nothing left leased or corrupted
    assert kinds(home_dir).count("archived") == 2


def test_a_tick_skipped_while_a_pass_runs_is_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    setup_logging()
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    with caplog.at_level(logging.WARNING, logger="apscheduler"):
        scheduler_log.warning('Execution of job "dispatch" skipped: maximum number of running '
                              "instances reached (1)")
        scheduler_log.warning("Run time of job was missed")
    assert [r.getMessage() for r in caplog.records] == ["Run time of job was missed"]


def test_heartbeat_is_written_at_start(home_dir: Path) -> None:
    """`monitor health` sees a daemon as soon as it says it started, however long its tick."""
    env = {**os.environ, "MONITOR_HOME": str(home_dir), **DAEMON_ENV, "MONITOR_SCHEDULE__TICK": "10m"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run"], env=env, cwd=home_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "daemon started" in line:
                break
        health = run_cli(home_dir, "health")
        assert health.code == 0, health.out + health.err
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
