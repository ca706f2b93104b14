"""The fetcher's limits: body size, redirect chains, conditional GET, per-host concurrency."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import httpx

from monitor.clock import ManualClock
from monitor.exchange import FetchError, HttpExchange
from monitor.fetch import Fetcher, OriginPools
from monitor.settings import FetchSettings
from tests.conftest import publish
from tests.site import NewsSite


def _fetch(settings: FetchSettings, url: str, **kwargs: str) -> HttpExchange | FetchError:
    async def run() -> HttpExchange | FetchError:
        fetcher = Fetcher(settings, "test-agent/1", ManualClock())
        try:
            return await fetcher.fetch(url, **kwargs)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def test_body_over_the_limit_is_an_error_not_a_truncated_page(site: NewsSite) -> None:
    url = publish(site, "apnews", "big")
    result = _fetch(FetchSettings(max_bytes=1000), url)
    assert isinstance(result, FetchError) and result.error_class == "too_large"


def test_redirect_chain_is_followed_and_recorded(site: NewsSite) -> None:
    first, second = publish(site, "apnews", "first"), publish(site, "cnn", "second")
    third = publish(site, "reuters", "third")
    site.redirect(first, second, code=302)
    site.redirect(second, third, code=301)
    result = _fetch(FetchSettings(), first)
    assert isinstance(result, HttpExchange) and result.status == 200 and result.url == third
    assert [(h.url, h.status, h.location) for h in result.redirects] == [
        (first, 302, second), (second, 301, third)]


def test_too_many_redirects_is_an_error(site: NewsSite) -> None:
    a, b = publish(site, "apnews", "a"), publish(site, "apnews", "b")
    site.redirect(a, b)
    site.redirect(b, a)
    result = _fetch(FetchSettings(max_redirects=4), a)
    assert isinstance(result, FetchError) and result.error_class == "redirect_loop"
    assert len(result.redirects) == 4


def test_gzip_bodies_are_stored_decoded_with_consistent_headers() -> None:
    with NewsSite(outlets=["apnews"], gzip_outlets=["apnews"]) as site:
        url = publish(site, "apnews", "zipped")
        result = _fetch(FetchSettings(), url)
        assert isinstance(result, HttpExchange)
        assert result.body == site.last_body(url)
        assert result.header("content-encoding") is None
        assert result.header("x-archive-orig-content-encoding") == "gzip"
        assert result.header("content-length") == str(len(result.body))


def test_per_host_limit_holds(site: NewsSite) -> None:
    urls = [publish(site, "apnews", f"slow-{i}") for i in range(4)]
    for url in urls:
        site.hang(url, seconds=0.3)
    settings = FetchSettings(per_host=1, timeout=timedelta(seconds=5))

    async def run() -> float:
        fetcher = Fetcher(settings, "test-agent/1", ManualClock())
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await asyncio.gather(*(fetcher.fetch(url) for url in urls))
        finally:
            await fetcher.aclose()
        return loop.time() - started

    assert asyncio.run(run()) >= 4 * 0.3  # one at a time to the same host


def test_unknown_host_is_a_dns_error() -> None:
    result = _fetch(FetchSettings(), "http://no-such-host.invalid/article")
    assert isinstance(result, FetchError) and result.error_class == "dns"


def test_transport_is_injectable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(410, text="gone")

    async def run() -> HttpExchange | FetchError:
        fetcher = Fetcher(FetchSettings(), "ua", ManualClock(), transport=httpx.MockTransport(handler))
        try:
            return await fetcher.fetch("https://example.test/a")
        finally:
            await fetcher.aclose()

    result = asyncio.run(run())
    assert isinstance(result, HttpExchange) and result.status == 410


def test_connections_are_kept_alive_per_origin_and_idle_pools_closed(site: NewsSite) -> None:
    """Each origin gets its own small pool (monitor.fetch.OriginPools): repeated fetches reuse
    at most per_host connections per outlet, and beyond concurrency * 4 origins the least
    recently used idle pools are closed."""
    urls = {outlet: [publish(site, outlet, f"keep-{i}") for i in range(12)]
            for outlet in ("apnews", "cnn", "reuters")}
    settings = FetchSettings(per_host=2, concurrency=1)  # keeps at most 4 pools

    async def run() -> tuple[dict[str, set[int]], int]:
        pools = OriginPools(settings)
        streams: dict[str, set[int]] = {}
        async with httpx.AsyncClient(transport=pools) as client:
            for outlet, some in urls.items():
                for batch in (some[:6], some[6:]):
                    answers = await asyncio.gather(*(client.get(url) for url in batch))
                    assert all(a.status_code == 200 for a in answers)
                    streams.setdefault(outlet, set()).update(
                        id(a.extensions["network_stream"]) for a in answers)
            for port in range(3):  # three more origins: the first ones' pools give way
                with contextlib.suppress(httpx.HTTPError):
                    await client.get(f"http://127.0.0.{port + 2}:9/")
            kept = len(pools._pools)
        return streams, kept

    streams, kept = asyncio.run(run())
    assert {outlet: len(ids) <= 2 for outlet, ids in streams.items()} == dict.fromkeys(urls, True)
    assert kept <= 4


def test_httpcore_finds_the_async_library_without_a_failing_import() -> None:
    """httpcore imports sniffio for every lock, event and cancel shield it makes, and falls back
    to asyncio when that fails: a failed import (a search of sys.path) each time, ~0.4 ms of CPU
    per fetch, a third of a 304 check. anyio no longer brings sniffio along, so the monitor
    declares it; a fresh install without it fails here."""
    import importlib.util

    assert importlib.util.find_spec("sniffio") is not None
