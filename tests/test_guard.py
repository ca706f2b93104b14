"""The private-address guard at fetch time: a source added through the web never leads the
monitor into its own network, neither by a redirect nor by a name that resolves there later."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import col, select

from monitor import guard
from monitor.clock import ManualClock
from monitor.exchange import FetchError, HttpExchange
from monitor.fetch import Fetcher
from monitor.home import Home
from monitor.settings import FetchSettings
from monitor.store import session
from monitor.store.models import Capture, Source
from tests.conftest import add_sources, one_pass, publish, source_row
from tests.site import NewsSite

PUBLIC = {"news.example": ["93.184.216.34"], "rebound.example": ["10.1.2.3"]}


@pytest.fixture(autouse=True)
def _dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str) -> list[str]:
        if host in PUBLIC:
            return PUBLIC[host]
        raise OSError(f"no such name {host}")
    monkeypatch.setattr(guard, "resolve", resolve)


def fetch(url: str, private_ok: bool) -> tuple[HttpExchange | FetchError, list[str]]:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        if request.url.path == "/elsewhere":
            return httpx.Response(301, headers={"Location": "http://rebound.example/x"})
        return httpx.Response(200, html="<p>secret</p>")

    async def run() -> HttpExchange | FetchError:
        fetcher = Fetcher(FetchSettings(), "test", ManualClock(datetime(2025, 1, 15, tzinfo=UTC)),
                          transport=httpx.MockTransport(answer))
        try:
            return await fetcher.fetch(url, private_ok=private_ok)
        finally:
            await fetcher.aclose()

    return asyncio.run(run()), asked


@pytest.mark.parametrize("path", ["/moved", "/elsewhere"])
def test_a_redirect_into_the_private_network_is_not_followed(path: str) -> None:
    result, asked = fetch(f"http://news.example{path}", private_ok=False)
    assert isinstance(result, FetchError) and result.error_class == "private_address"
    assert "private or loopback address" in result.message
    assert asked == [f"http://news.example{path}"]  # the private hop was never requested
    assert len(result.redirects) == 1


def test_sources_not_added_through_the_web_may_go_anywhere() -> None:
    result, asked = fetch("http://news.example/moved", private_ok=True)
    assert isinstance(result, HttpExchange) and result.status == 200
    assert asked[-1] == "http://169.254.169.254/latest/meta-data/"


def test_a_name_that_does_not_resolve_is_left_to_the_fetch() -> None:
    result, asked = fetch("http://unknown.example/page", private_ok=False)
    assert isinstance(result, HttpExchange) and asked == ["http://unknown.example/page"]


def test_a_source_added_through_the_web_never_reaches_the_local_network(
        site: NewsSite, home: Home, clock: ManualClock) -> None:
    """The test site is on 127.0.0.1: a web-added source there is refused at every check
    (say, after its name started resolving inside), recorded, and not judged dead for it."""
    url = publish(site, "apnews", "inside")
    [source_id] = add_sources(home, clock, url)
    with session(home.engine) as db:
        row = db.get(Source, source_id)
        assert row is not None
        row.origin = "web"
        db.commit()
    for _ in range(4):
        one_pass(home, clock, [source_id], timedelta(days=1))
    assert site.hits(url) == 0
    with session(home.engine) as db:
        errors = db.exec(select(Capture.error_class).where(col(Capture.source_id) == source_id)).all()
    assert errors == ["private_address"] * 4
    assert source_row(home, source_id).health != "dead"
