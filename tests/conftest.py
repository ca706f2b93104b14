"""Shared fixtures: a local news site, a fresh MONITOR_HOME, and ways to run the monitor.

Tests never touch real sites: everything is served from 127.0.0.1 by ``tests.site``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from monitor.check import CheckContext
from monitor.clock import ManualClock
from monitor.fetch import Fetcher
from monitor.home import Home, open_home
from monitor.schedule import PassSummary, run_pass
from monitor.store import session
from monitor.store.models import Event, Source
from monitor.store.sources import add_source
from tests.postgres import pg_url  # noqa: F401  (a fresh PostgreSQL database per test)
from tests.site import NewsSite

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MONITOR_TEST_SHARED", REPO.parent / "shared"))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30,
             poll: float = 0.05) -> None:
    """Wait until ``condition()`` holds, with a deadline (never a fixed sleep as an assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)


def shared(relative: str) -> Path:
    """A file of the project's shared folder (beside the repository, as CI has it).

    Skipped with a reason on a machine without it; with CI=true its absence is a failure."""
    path = SHARED / relative
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must run with shared/ beside the repository")
        pytest.skip(f"{path} not present (set MONITOR_TEST_SHARED to the shared folder)")
    return path


# Read once at import: the autouse _test_env fixture clears every MONITOR_* variable.
_TOOLS_DIR = os.environ.get("MONITOR_ARCHIVE_TOOLS")
ARCHIVE_TOOLS = [*([Path(_TOOLS_DIR)] if _TOOLS_DIR else []), REPO / ".ci-tools" / "bin"]
TOOLS_HINT = ("python3 -m venv .ci-tools && .ci-tools/bin/pip install pywb==2.10.0 wacz==0.6.0 "
              "(pywb's pins clash with ours, so it gets its own virtualenv)")


def archive_tool(name: str) -> Path:
    """An archivist's tool (pywb's ``wayback``, ``wb-manager``; ``wacz``) from its own virtualenv:
    ``$MONITOR_ARCHIVE_TOOLS``, then ``.ci-tools/bin``, then PATH.

    Skipped with the install command when missing; with CI=true its absence is a failure."""
    for folder in ARCHIVE_TOOLS:
        if (folder / name).is_file():
            return folder / name
    found = shutil.which(name)
    if found:
        return Path(found)
    message = f"{name} not installed: run {TOOLS_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must install it (.ci/run does)")
    pytest.skip(message)


SEED_URL_COUNT = 10


@pytest.fixture
def seed() -> Path:
    """The seed piece's source list (shared/sources-seed.md)."""
    return shared("sources-seed.md")

# Fast, deterministic settings for tests: extraction in a thread, no fsync, short timeouts.
TEST_ENV = {
    "MONITOR_EXTRACT__WORKERS": "1",
    "MONITOR_ARCHIVE__FSYNC": "false",
    "MONITOR_FETCH__TIMEOUT": "3s",
    "MONITOR_FETCH__CONNECT_TIMEOUT": "2s",
    "MONITOR_IDENTITY__CONTACT_URL": "mailto:tests@example.org",
}

PARAGRAPHS = [
    "RedNote, known in China as Xiaohongshu, had 300 million monthly users before the influx, "
    "the company said on Tuesday.",
    "More than 700,000 new users joined in two days as Americans looked for an alternative "
    "to TikTok ahead of a possible ban.",
    "\"It feels like a cultural exchange,\" said Jane Doe, a 24-year-old designer from Ohio "
    "who joined the app this week.",
    "Analysts said the migration was unlikely to last if the ban on TikTok was delayed by "
    "the incoming administration.",
]


@pytest.fixture(autouse=True)
def _test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("MONITOR_")]:
        monkeypatch.delenv(key)
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite(outlets=["apnews", "cnn", "reuters"], static_outlets=["reuters"]) as news:
        yield news


def publish(site: NewsSite, outlet: str, slug: str, headline: str = "What is RedNote?",
            paragraphs: list[str] | None = None) -> str:
    return site.add_article(outlet, slug, headline=headline, byline="By Jane Roe",
                            published=datetime(2025, 1, 14, 9, 0, tzinfo=UTC),
                            paragraphs=paragraphs or PARAGRAPHS)


@pytest.fixture
def home_dir(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def home(home_dir: Path) -> Iterator[Home]:
    opened = open_home(home_dir)
    yield opened
    opened.engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 1, 15, 12, 0, tzinfo=UTC))


@asynccontextmanager
async def checking(home: Home, clock: ManualClock,
                   transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator[CheckContext]:
    """A check context on ``home``; ``transport`` reaches the site's named and TLS outlets."""
    overrides: dict[str, Any] = {}
    if transport is not None:
        settings = home.settings
        overrides["fetcher"] = Fetcher(settings.fetch, settings.identity.user_agent(), clock,
                                       transport=transport)
    async with home.check_context(clock, **overrides) as ctx:
        yield ctx


def add_sources(home: Home, clock: ManualClock, *urls: str) -> list[int]:
    """Add sources by URL; returns their ids in the same order."""
    with session(home.engine) as db:
        sources = [add_source(db, url, clock.now())[0] for url in urls]
        db.commit()
        return [s.id or 0 for s in sources]


def one_pass(home: Home, clock: ManualClock, ids: list[int], advance: timedelta = timedelta(hours=6),
             transport: httpx.AsyncBaseTransport | None = None) -> PassSummary:
    """Move the clock on by ``advance``, then run one pass over ``ids``."""
    async def run() -> PassSummary:
        async with checking(home, clock, transport) as ctx:
            return await run_pass(ctx, ids)

    clock.advance(advance)
    return asyncio.run(run())


def events_of(home: Home, kind: str | None = None) -> list[Event]:
    """Every event in time order, or only those of ``kind``."""
    with session(home.engine) as db:
        query = select(Event).order_by(col(Event.at))
        if kind:
            query = query.where(col(Event.kind) == kind)
        return list(db.exec(query).all())


def source_row(home: Home, source_id: int) -> Source:
    with session(home.engine) as db:
        found = db.get(Source, source_id)
        assert found is not None
        return found


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> Result:
    """Run the real ``monitor`` command in a subprocess, as a user would."""
    full_env = {**os.environ, "MONITOR_HOME": str(home), "COLUMNS": "200", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "monitor", *args], env=full_env, cwd=cwd or home,
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)
