"""The dashboard story as a home for API tests: built once per module, copied for each test.

Building the story (tests/web_story.py) takes about a second; copying its home takes a few
milliseconds, so every test (or schemathesis run) starts from all of it, whatever the one
before removed, muted or acknowledged. Check now runs in the app through :class:`LocalOnly`,
which reaches the local news site and nothing else.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from monitor.check import CheckContext
from monitor.clock import ManualClock
from monitor.extract import Extractor
from monitor.fetch import Fetcher
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import Capture, Event
from monitor.web.auth import resolve_token
from tests.site import NewsSite
from tests.web_story import Story, write_story

LOCAL = "127.0.0.1"
START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
STORY_END = START + timedelta(days=3)  # write_story's clock stops 2.5 days after START


class LocalOnly(httpx.AsyncBaseTransport):
    """Reaches 127.0.0.1 (the news site) and refuses every other host like a dead network.

    No keep-alive: no connection outlives its request, so none is left open in the app's
    event loop when the test closes the fetcher from its own."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != LOCAL:
            raise httpx.ConnectError(f"test network: {request.url.host} is not reachable", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class Template:
    """The story's home, closed, ready to be copied."""

    path: Path
    story: Story
    token: str
    ids: dict[str, list[Any]]  # parameter name -> values that name something in the story


def build_template(site: NewsSite, path: Path) -> Template:
    """Write the story into a new home at ``path`` (MONITOR_* test settings must be set)."""
    home = open_home(path)
    try:
        story = write_story(site, home, ManualClock(START))
        token = resolve_token(home.settings.web.token, home.settings.archive_dir)
        return Template(path, story, token, _ids(home, story))
    finally:
        home.engine.dispose()  # the WAL is folded into the database file: the copy is whole


def _ids(home: Home, story: Story) -> dict[str, list[Any]]:
    with session(home.engine) as db:
        captures = list(db.exec(select(Capture.id).order_by(col(Capture.id))).all())
        events = list(db.exec(select(Event.id).order_by(col(Event.id))).all())
    sources = [story.edited, story.dead, story.static, story.hostile]
    return {"source_id": sources, "source": sources, "number": [1, 2, 3], "from": [1, 2, 3],
            "to": [1, 2, 3], "capture_id": captures, "event_id": events}


@contextmanager
def story_copy(template: Template, dest: Path) -> Iterator[tuple[Home, CheckContext]]:
    """A copy of the story's home at ``dest``, opened (settings from the environment now),
    and a check context whose fetches reach only 127.0.0.1. Close the app first."""
    shutil.copytree(template.path, dest)
    home = open_home(dest)
    clock = ManualClock(STORY_END)
    settings = home.settings
    ctx = CheckContext(settings, home.engine, home.open_archive(),
                       Fetcher(settings.fetch, settings.identity.user_agent(), clock, transport=LocalOnly()),
                       Extractor(settings.extract.workers), clock)
    try:
        yield home, ctx
    finally:
        asyncio.run(ctx.fetcher.aclose())
        ctx.extractor.close()
        ctx.archive.close()
        home.engine.dispose()
