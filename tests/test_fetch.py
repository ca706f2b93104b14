"""The fetcher's limits: body size, redirect chains, conditional GET, per-host concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import httpx
import pytest

from monitor.clock import ManualClock
from monitor.exchange import FetchError, HttpExchange
from monitor.fetch import Fetcher
from monitor.settings import FetchSettings
from monitor.transport import Connections, OriginPools, remote_ip
from tests.conftest import publish
from tests.site import NewsSite
from tests.site.network import client_context


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


def test_connections_are_kept_alive_per_host(site: NewsSite) -> None:
    """HTTP/1.1 goes through aiohttp's pool (monitor/transport.py): 24 fetches per outlet, 6 at
    a time, open at most per_host connections to each."""
    urls = {outlet: [publish(site, outlet, f"keep-{i}") for i in range(24)]
            for outlet in ("apnews", "cnn", "reuters")}
    settings = FetchSettings(per_host=2, concurrency=6)

    async def run() -> None:
        fetcher = Fetcher(settings, "ua", ManualClock())
        try:
            for some in urls.values():
                for start in range(0, len(some), 6):
                    answers = await asyncio.gather(*(fetcher.fetch(u) for u in some[start:start + 6]))
                    assert all(isinstance(a, HttpExchange) and a.status == 200 for a in answers)
        finally:
            await fetcher.aclose()

    asyncio.run(run())
    assert {outlet: site.connections_accepted(outlet) <= 2 for outlet in urls} == dict.fromkeys(urls, True)


def test_http2_pools_are_per_origin_and_idle_ones_closed(site: NewsSite) -> None:
    """The httpcore side (HTTP/2 origins) keeps one small pool per origin; beyond
    concurrency * 4 origins the least recently used idle pools are closed."""
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


# ---------------------------------------------------------------- servers that misbehave on purpose


@pytest.fixture
def net() -> Iterator[NewsSite]:
    with NewsSite(["courier"], tls_outlets={"courier"}) as news:
        yield news

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _head(reader: asyncio.StreamReader) -> str:
    return (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")


async def _raw_fetch(handler: Handler, settings: FetchSettings, path: str = "/a",
                     times: int = 1) -> list[HttpExchange | FetchError]:
    """Fetch ``path`` ``times`` from a raw TCP server on 127.0.0.1 answering with ``handler``."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fetcher = Fetcher(settings, "ua", ManualClock())
    try:
        return [await fetcher.fetch(f"http://127.0.0.1:{port}{path}") for _ in range(times)]
    finally:
        await fetcher.aclose()
        server.close()
        await server.wait_closed()


def test_a_server_dripping_bytes_times_out_in_total_not_per_read() -> None:
    """fetch.timeout is the whole answer: one byte every 0.2 s never trips a per-read timeout."""
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.2)

    async def run() -> tuple[HttpExchange | FetchError, float]:
        started = time.monotonic()
        [result] = await _raw_fetch(drip, FetchSettings(timeout=timedelta(seconds=1)))
        return result, time.monotonic() - started

    result, took = asyncio.run(run())
    assert isinstance(result, FetchError) and result.error_class == "timeout", result
    assert "within 1s" in result.message and took < 3


def test_large_headers_and_broken_responses(site: NewsSite) -> None:
    """A 40 KB Content-Security-Policy is an answer (httpcore takes 100 KB of head; aiohttp's
    default is 8 KB); a response that is not HTTP is a protocol error."""
    policy = "default-src 'self' " + " ".join(f"https://cdn{i}.example.com" for i in range(1600))

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Security-Policy: {policy}\r\n"
                     "Content-Length: 2\r\n\r\nok".encode())
        await writer.drain()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    [answer] = asyncio.run(_raw_fetch(big, FetchSettings()))
    assert len(policy) > 40_000
    assert isinstance(answer, HttpExchange) and answer.body == b"ok"
    assert answer.header("content-security-policy") == policy
    [broken] = asyncio.run(_raw_fetch(garbage, FetchSettings()))
    assert isinstance(broken, FetchError) and broken.error_class == "protocol", broken


def test_cookies_are_kept_for_one_fetch_only() -> None:
    """A cookie set by a redirect goes with the next hop (cookie checks, consent pages), but a
    later check starts without it: no meter of a paywall counting our visits."""
    seen: list[str] = []

    async def site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await _head(reader)
                path = head.split(" ", 2)[1]
                cookie = next((line.split(":", 1)[1].strip() for line in head.split("\r\n")
                               if line.lower().startswith("cookie:")), "")
                seen.append(f"{path} {cookie}".strip())
                if path == "/a":
                    writer.write(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nSet-Cookie: seen=1; Path=/\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nSet-Cookie: meter=1; Path=/\r\n"
                                 b"Content-Length: 2\r\n\r\nok")
                await writer.drain()

    results = asyncio.run(_raw_fetch(site, FetchSettings(), times=2))
    assert all(isinstance(r, HttpExchange) and r.status == 200 for r in results)
    assert seen == ["/a", "/b seen=1", "/a", "/b seen=1"]


def test_an_https_origin_without_http2_moves_to_the_http1_connections(net: NewsSite) -> None:
    """An https origin is asked first through httpcore, which offers h2; once it has answered in
    HTTP/1.1 its later requests go through aiohttp (monitor/transport.py). Both reach it."""
    url = net.base_url("courier") + "/"

    async def run() -> list[tuple[int, str, str | None]]:
        connections = Connections(FetchSettings(http2=True), tls=client_context())
        answers = []
        async with httpx.AsyncClient(transport=connections) as client:
            for _ in range(3):
                response = await client.get(url)
                carrier = "aiohttp" if "server_addr" in response.extensions else "httpcore"
                answers.append((response.status_code, carrier, remote_ip(response)))
        return answers

    assert asyncio.run(run()) == [(200, "httpcore", "127.0.0.1"), (200, "aiohttp", "127.0.0.1"),
                                  (200, "aiohttp", "127.0.0.1")]
