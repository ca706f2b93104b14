"""Crash safety: ``monitor run`` killed with SIGKILL at random moments loses and doubles nothing.

Rounds of: edit articles on the local site (and take one down or bring one back),
start the daemon, SIGKILL it at a random moment (during its start-up recovery or
during a pass), again, then let a last start finish a pass over every source and stop
it with SIGTERM. Afterwards every WARC file passes ``warcio check`` and reads to the
end, every Capture row resolves to a readable record with the digest it claims, and
the versions and events are exactly those the site's edits call for.

The random moments come from one seed, printed at the start (``pytest -s`` shows it;
a failure shows it too); ``MONITOR_KILL_SEED=<seed>`` replays a run.

Each daemon is a fresh process forked from a multiprocessing *forkserver* that has
the monitor imported already, running the real ``monitor run`` entry point: a
start costs milliseconds instead of the seconds of a cold ``python -m monitor``
import, which is what makes twenty-odd kills fit in well under two minutes.
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from sqlmodel import col, select

from monitor.archive.fixity import verify_archive
from monitor.archive.warc import scan_warc
from monitor.clock import ManualClock
from monitor.home import open_home
from monitor.store import session
from monitor.store.models import Capture, Event, Source, Version
from tests.conftest import add_sources, run_cli, wait_for
from tests.site import NewsSite
from tests.site.pages import fake_story

pytestmark = pytest.mark.slow
KILL_SEED = os.environ.get("MONITOR_KILL_SEED")  # read on import: the test env fixture clears MONITOR_*

DAEMON_ENV = {
    "MONITOR_SCHEDULE__TICK": "0.1s",
    "MONITOR_SCHEDULE__INTERVAL": "0.5s",
    "MONITOR_SCHEDULE__JITTER": "0",
    "MONITOR_SCHEDULE__GRACE": "2s",
    "MONITOR_ARCHIVE__FSYNC": "true",
}
OUTLETS = ["apnews", "cnn", "reuters", "bbc"]
ARTICLES_PER_OUTLET = 3
ROUNDS = 6
KILLS_PER_ROUND = 4
PASS_DEADLINE = 40.0  # seconds for a restarted daemon to check every source


# ------------------------------------------------------------------ the daemon process


def daemon_main(env: dict[str, str], log: str) -> None:
    """``monitor run`` in a forked child, its output appended to ``log``."""
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.argv = ["monitor", "run"]
    from monitor.cli import main

    main()


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    """A process factory with the monitor imported once (see the module docstring)."""
    context = multiprocessing.get_context("forkserver")
    # the commands import what they use when they run: preload what monitor run uses
    context.set_forkserver_preload(["monitor.cli", "monitor.cli.checks", "monitor.cli.archive",
                                    "monitor.cli.history", "monitor.cli.sources",
                                    "monitor.cli.links", "monitor.daemon", "monitor.archive.warc",
                                    "monitor.extract_article", __name__])
    return context


@dataclass
class Daemons:
    context: ForkServerContext
    home: Path
    logs: Path
    started: int = 0
    kills: int = 0

    def start(self) -> BaseProcess:
        env = {**os.environ, **DAEMON_ENV, "MONITOR_HOME": str(self.home)}
        log = str(self.logs / f"daemon-{self.started:03d}.log")
        self.started += 1
        process = self.context.Process(target=daemon_main, args=(env, log), daemon=True)
        process.start()
        return process

    def kill(self, process: BaseProcess) -> None:
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
        assert process.exitcode == -signal.SIGKILL, (
            f"daemon exited {process.exitcode} before its kill; log:\n{self.log_text()[-3000:]}")
        self.kills += 1

    def stop(self, process: BaseProcess) -> None:
        process.terminate()  # SIGTERM: a clean stop
        process.join(30)
        assert process.exitcode == 0, f"daemon exit {process.exitcode}; log:\n{self.log_text()[-3000:]}"

    def log_text(self) -> str:
        return "".join(p.read_text() for p in sorted(self.logs.glob("daemon-*.log")))


# ------------------------------------------------------------------ what the site served


@dataclass
class Story:
    url: str
    edits: list[str] = field(default_factory=list)  # the marker of each edit, in order
    down: bool = False


def publish_all(site: NewsSite, rng: random.Random) -> dict[str, Story]:
    stories = {}
    for outlet in OUTLETS:
        for n in range(ARTICLES_PER_OUTLET):
            headline, paragraphs = fake_story(rng)
            url = site.add_article(outlet, f"story-{n}", headline=headline, byline="By Kim Lee",
                                   published=datetime(2025, 1, 14, 9, tzinfo=UTC), paragraphs=paragraphs)
            stories[url] = Story(url)
    return stories


def change_the_site(site: NewsSite, stories: dict[str, Story], rng: random.Random, round_: int) -> str:
    """Bring back the article that was down, edit some, and (every other round) take one
    down that was not edited now: every edit is served in the round it is made."""
    done = []
    for story in [s for s in stories.values() if s.down]:
        site.restore(story.url)
        story.down = False
        done.append(f"restored {story.url}")
    edited = rng.sample(list(stories.values()), rng.randint(2, 4))
    for story in edited:
        marker = f"Correction {round_}.{len(story.edits) + 1}"
        site.edit(story.url, append=f"{marker}: an earlier version of this story misstated the figures "
                  f"given by the ministry, which counted {rng.randint(100, 999)} cases, not more.")
        story.edits.append(marker)
        done.append(f"edited {story.url}")
    if round_ % 2:
        victim = rng.choice([s for s in stories.values() if s not in edited])
        site.set_status(victim.url, 404)
        victim.down = True
        done.append(f"took down {victim.url}")
    return "; ".join(done)


def add_all(home_dir: Path, urls: list[str]) -> None:
    home = open_home(home_dir)
    try:
        add_sources(home, ManualClock(datetime.now(UTC)), *urls)
    finally:
        home.engine.dispose()


# ------------------------------------------------------------------ watching the database


def checked_since(db_path: Path, since: datetime) -> int:
    """Sources whose last check finished at or after ``since`` (read-only: the daemon writes)."""
    if not db_path.exists():
        return 0
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        row = connection.execute("SELECT count(*) FROM source WHERE last_check_at >= ?", (stamp,)).fetchone()
        return int(row[0])
    except sqlite3.OperationalError:  # the schema is being created by the first start
        return 0
    finally:
        connection.close()


def total_hits(site: NewsSite, stories: dict[str, Story]) -> int:
    return sum(site.hits(url) for url in stories)


def archive_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "archive" / "warc").glob("*.warc.gz"))


def kill_at_random(daemons: Daemons, site: NewsSite, stories: dict[str, Story], rng: random.Random) -> str:
    """Start a daemon and SIGKILL it: during start-up, at a random point of its pass, or
    the moment a capture's records reach the disk (before or after its row commits)."""
    hits = total_hits(site, stories)
    process = daemons.start()
    mode = rng.random()
    if mode < 0.2:
        delay = rng.uniform(0.0, 0.3)
        time.sleep(delay)
        daemons.kill(process)
        return f"{delay:.2f}s after start"
    wait_for(lambda: total_hits(site, stories) > hits or not process.is_alive(), "a pass to begin", 20,
             poll=0.02)
    if mode < 0.45:
        written = archive_bytes(daemons.home)
        wait_for(lambda: archive_bytes(daemons.home) > written or not process.is_alive(),
                 "a record to be written", 20, poll=0.0005)
        daemons.kill(process)
        return "as a record was written"
    delay = rng.uniform(0.0, 1.2)
    time.sleep(delay)
    daemons.kill(process)
    return f"{delay:.2f}s into a pass"


def finish_a_pass(daemons: Daemons, db_path: Path, sources: int, what: str) -> None:
    """Start a daemon, let it check every source, stop it with SIGTERM."""
    since = datetime.now(UTC)  # after the round's edits: the daemon must see every one
    process = daemons.start()
    wait_for(lambda: checked_since(db_path, since) == sources, f"{what}: a pass over every source",
             PASS_DEADLINE, poll=0.02)
    daemons.stop(process)


def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    forkserver: ForkServerContext, home_dir: Path, tmp_path: Path
) -> None:
    seed = int(KILL_SEED or random.randrange(1 << 32))
    print(f"kill test seed {seed}")
    rng = random.Random(seed)
    started = time.monotonic()
    logs = tmp_path / "logs"
    logs.mkdir()
    daemons = Daemons(forkserver, home_dir, logs)
    with NewsSite(outlets=OUTLETS, static_outlets=["reuters"], page_kb=80) as site:
        stories = publish_all(site, rng)
        add_all(home_dir, list(stories))
        db_path = home_dir / "archive" / "monitor.db"
        for round_ in range(ROUNDS):
            what = change_the_site(site, stories, rng, round_) if round_ else "first captures"
            moments = [kill_at_random(daemons, site, stories, rng) for _ in range(KILLS_PER_ROUND)]
            print(f"round {round_}: {what}; killed {', '.join(moments)}")
            finish_a_pass(daemons, db_path, len(stories), f"round {round_} (seed {seed})")
    elapsed = time.monotonic() - started
    repaired = len(re.findall(r"archive repaired", daemons.log_text()))
    assert daemons.kills >= 20
    orphans = assert_archive_is_whole(home_dir, seed)
    print(f"{daemons.kills} kills in {elapsed:.1f}s; torn tails cut on restart: {repaired}; "
          f"complete records whose row never committed: {orphans}")
    assert_history_is_exact(home_dir, stories, seed)


def assert_archive_is_whole(home_dir: Path, seed: int) -> int:
    """warcio check, our end-to-end scan, and fixity of every row: all clean.

    Returns how many complete records no row points to (killed between write and commit)."""
    warcs = sorted((home_dir / "archive" / "warc").glob("*.warc.gz"))
    assert warcs
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", *map(str, warcs)],
                           capture_output=True, text=True)
    assert check.returncode == 0, f"seed {seed}: warcio check failed:\n{check.stdout}{check.stderr}"
    in_files = 0
    for path in warcs:
        scan = scan_warc(path)
        assert scan.problem is None, f"seed {seed}: {path.name}: {scan.problem}"
        in_files += scan.records - 1  # each file starts with its warcinfo record
    home = open_home(home_dir)
    try:
        report = verify_archive(home.engine, home.settings.warc_dir)
    finally:
        home.engine.dispose()
    assert report.problems == [], f"seed {seed}: " + "\n".join(p.line() for p in report.problems)
    return in_files - report.records


def assert_history_is_exact(home_dir: Path, stories: dict[str, Story], seed: int) -> None:
    """One version per text the site served, in order; one event per version; nothing else."""
    home = open_home(home_dir)
    try:
        with session(home.engine) as db:
            sources = {s.url: s for s in db.exec(select(Source)).all()}
            for url, story in stories.items():
                source = sources[url]
                versions = list(db.exec(select(Version).where(col(Version.source_id) == source.id)
                                        .order_by(col(Version.number))).all())
                assert_versions(versions, story, f"seed {seed}: {url}")
                kinds = [e.kind for e in db.exec(select(Event).where(col(Event.source_id) == source.id)
                                                 .order_by(col(Event.at))).all()]
                assert kinds.count("archived") == 1, f"seed {seed}: {url}: {kinds}"
                assert kinds.count("changed") == len(story.edits), f"seed {seed}: {url}: {kinds}"
                captures = db.exec(select(Capture).where(col(Capture.source_id) == source.id)).all()
                assert captures and all(c.record_type or c.error_class or c.refers_to_capture_id
                                        for c in captures)
    finally:
        home.engine.dispose()


def assert_versions(versions: list[Version], story: Story, where: str) -> None:
    numbers = [v.number for v in versions]
    assert numbers == list(range(1, len(story.edits) + 2)), f"{where}: versions {numbers}"
    for version, served in zip(versions, range(len(story.edits) + 1), strict=True):
        present = [m for m in story.edits if f"{m}:" in version.text]
        assert present == story.edits[:served], f"{where}: version {version.number} has {present}"
    fingerprints = [v.fingerprint for v in versions]
    assert len(set(fingerprints)) == len(fingerprints), f"{where}: a version repeats another"


# ------------------------------------------------------------------ a torn record on start


def test_a_torn_trailing_record_is_cut_when_the_daemon_starts(home_dir: Path, tmp_path: Path) -> None:
    db_path = home_dir / "archive" / "monitor.db"
    with NewsSite(outlets=["apnews", "cnn"], page_kb=40) as site:
        rng = random.Random(5)
        urls = []
        for outlet in ("apnews", "cnn"):
            headline, paragraphs = fake_story(rng)
            urls.append(site.add_article(outlet, "torn", headline=headline, paragraphs=paragraphs))
        add_all(home_dir, urls)
        first = run_cli(home_dir, "check", env=DAEMON_ENV)
        assert first.code == 0, first.err
        newest = max((home_dir / "archive" / "warc").glob("*.warc.gz"))
        good_size = newest.stat().st_size
        with open(newest, "ab") as fh:  # what a kill in the middle of a write leaves
            record = gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 90000\r\n\r\n"
                                   + os.urandom(90000))
            fh.write(record[: len(record) // 2])
        assert scan_warc(newest).problem is not None

        log = tmp_path / "daemon.log"
        started = datetime.now(UTC)
        with open(log, "w") as out:
            daemon = subprocess.Popen([sys.executable, "-m", "monitor", "run"], cwd=home_dir,
                                      env={**os.environ, **DAEMON_ENV, "MONITOR_HOME": str(home_dir)},
                                      stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: checked_since(db_path, started) == 2, "a pass after the restart", 60,
                         poll=0.02)
            finally:
                daemon.send_signal(signal.SIGTERM)
                assert daemon.wait(timeout=30) == 0, log.read_text()
    err = log.read_text()

    assert f"archive repaired: {newest.name}" in err and f"to end at {good_size}" in err
    assert newest.stat().st_size == good_size
    assert scan_warc(newest).problem is None
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(newest)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    home = open_home(home_dir)
    try:
        with session(home.engine) as db:
            ends = [(c.warc_offset or 0) + (c.warc_length or 0)
                    for c in db.exec(select(Capture).where(col(Capture.warc_file) == newest.name))]
        assert ends and max(ends) <= good_size  # no row points into the part that was cut
        assert verify_archive(home.engine, home.settings.warc_dir).problems == []
    finally:
        home.engine.dispose()
