"""Fetching: timeouts, body limit, redirects recorded hop by hop, conditional GET, and
global and per-host concurrency limits, over the connections of monitor/transport.py.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime
from urllib.parse import urljoin

import httpx

from monitor.clock import Clock
from monitor.exchange import FetchError, Headers, Hop, HttpExchange, HttpRequest
from monitor.guard import RefusedURL, is_private, refuse_private
from monitor.settings import FetchSettings
from monitor.transport import Connections, remote_ip
from monitor.urls import host_of

REDIRECTS = {301, 302, 303, 307, 308}
NETWORK_ERRORS = frozenset({"dns", "refused", "tls", "timeout", "reset", "protocol", "network"})
_DROPPED = {"content-encoding", "transfer-encoding", "content-length"}
# A slot for one request to a host, held across processes (monitor/distributed/locks.py)
HostSlot = Callable[[str], AbstractAsyncContextManager[object]]


class Fetcher:
    """Fetches URLs politely. Inject ``transport`` to run against an in-process app, and
    ``host_slot`` to share the per-host limit with other processes."""

    def __init__(
        self,
        settings: FetchSettings,
        user_agent: str,
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        host_slot: HostSlot | None = None,
    ) -> None:
        self._settings = settings
        # the semaphores bound this process; ``host_slot`` bounds a host over every process
        self._host_slot: HostSlot = host_slot or (lambda _host: nullcontext())
        self._clock = clock
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host)
        )
        timeout = httpx.Timeout(
            settings.timeout.total_seconds(), connect=settings.connect_timeout.total_seconds()
        )
        # the hop's requests are built here and handed to the transport: httpx's client adds
        # nothing this fetcher uses (it follows redirects itself, sends no auth) but costs
        # ~0.2 ms per request, half of it a cookie jar that would carry one site's cookies
        # into every later check (a paywall's meter); cookies live for one fetch, see fetch()
        self._transport = transport or Connections(settings)
        self._extensions = {"timeout": timeout.as_dict()}
        self._headers = [(b"Accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
                         *_client_headers(), (b"User-Agent", user_agent.encode("latin-1"))]

    async def aclose(self) -> None:
        await self._transport.aclose()

    @asynccontextmanager
    async def reserved(self, permits: int) -> AsyncIterator[None]:
        """Hold ``permits`` of the global limit meanwhile: a sharded pass leaves this process
        its share of ``concurrency`` (monitor/shards.py)."""
        taken = 0
        try:
            for _ in range(permits):
                await self._global.acquire()
                taken += 1
            yield
        finally:
            for _ in range(taken):
                self._global.release()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None,
        private_ok: bool = True,
    ) -> HttpExchange | FetchError:
        """GET ``url``, following redirects; conditional headers go on the first hop only.

        ``private_ok=False`` (sources added through the web, monitor/guard.py): no hop may go
        to, and no answer may come from, a private or loopback address."""
        started = self._clock.now()
        t0 = time.monotonic()
        hops: list[Hop] = []
        conditional = _conditional_headers(etag, last_modified)
        cookies = httpx.Cookies()  # set by one hop for the next (a consent or cookie check)
        current = url
        while True:
            try:
                if not private_ok:
                    await refuse_private(current)
                exchange = await self._get_once(current, conditional, cookies, started, t0, hops)
                if not private_ok and exchange.remote_ip and is_private(exchange.remote_ip):
                    raise RefusedURL(f"the answer came from a private address ({exchange.remote_ip})")
            except RefusedURL as refused:
                return FetchError(current, "private_address", str(refused), started, _ms(t0),
                                  list(hops))
            except FetchFailed as failure:
                return FetchError(current, failure.error_class, failure.message, started,
                                  _ms(t0), list(hops))
            location = exchange.header("location")
            if exchange.status not in REDIRECTS or not location:
                return exchange
            if len(hops) >= self._settings.max_redirects:
                return FetchError(current, "redirect_loop", f"more than {len(hops)} redirects",
                                  started, _ms(t0), list(hops))
            target = urljoin(current, location)
            hops.append(Hop(current, exchange.status, target))
            current, conditional = target, []

    async def _get_once(
        self, url: str, extra: list[tuple[bytes, bytes]], cookies: httpx.Cookies, started: datetime,
        t0: float, hops: list[Hop],
    ) -> HttpExchange:
        host = host_of(url)
        async with self._global, self._hosts[host], self._host_slot(host):
            limit = self._settings.timeout.total_seconds()
            try:
                # the whole answer, not each read: a server dripping a byte at a time never
                # trips httpx's or aiohttp's per-read timeouts
                async with asyncio.timeout(limit):
                    return await self._stream(url, extra, cookies, started, t0, hops)
            except TimeoutError:
                raise FetchFailed("timeout", f"no complete answer within {limit:g}s") from None
            except httpx.HTTPError as exc:
                raise FetchFailed(*classify_error(exc)) from None
            except ssl.SSLError as exc:
                raise FetchFailed("tls", str(exc)) from None

    async def _stream(
        self, url: str, extra: list[tuple[bytes, bytes]], cookies: httpx.Cookies, started: datetime,
        t0: float, hops: list[Hop],
    ) -> HttpExchange:
        request = httpx.Request("GET", url, headers=[*self._headers, *extra], extensions=self._extensions)
        if cookies:
            cookies.set_cookie_header(request)
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            body = await self._read_body(response)
        finally:
            await response.aclose()
        if "set-cookie" in response.headers:
            cookies.extract_cookies(response)
        return HttpExchange(
            request=HttpRequest("GET", url, _raw(request.headers.raw)),
            status=response.status_code,
            reason=response.reason_phrase,
            headers=consistent_headers(_raw(response.headers.raw), len(body)),
            body=body,
            fetched_at=started,
            elapsed_ms=_ms(t0),
            remote_ip=remote_ip(response),
            redirects=list(hops),
        )

    async def _read_body(self, response: httpx.Response) -> bytes:
        limit = self._settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchFailed("too_large", f"Content-Length {declared} over max_bytes {limit}")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchFailed("too_large", f"body over max_bytes {limit}")
            chunks.append(chunk)
        return b"".join(chunks)


class FetchFailed(Exception):
    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


def classify_error(exc: BaseException) -> tuple[str, str]:
    """Name the class of a transport failure: dns, refused, tls, timeout, reset, protocol."""
    chain = list(_chain(exc))
    text = " ".join(f"{type(e).__name__} {e}" for e in chain).lower()
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "refused", str(chain[-1])
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls", str(chain[-1])
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if any(s in text for s in ("name or service", "nodename", "name resolution", "getaddrinfo",
                                   "no address associated", "name does not resolve")):
            return "dns", str(exc)
        if "refused" in text:
            return "refused", str(exc)
        if "ssl" in text or "certificate" in text or "tls" in text:
            return "tls", str(exc)
        return "network", str(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol", str(exc) or "server broke the protocol"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "reset", str(exc) or "connection reset"
    return "other", f"{type(exc).__name__}: {exc}"


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def consistent_headers(headers: Headers, body_length: int) -> Headers:
    """Headers that describe the decoded body we store; originals kept as X-Archive-Orig-*."""
    out: Headers = []
    for name, value in headers:
        if name.lower() in _DROPPED:
            out.append((f"X-Archive-Orig-{name}", value))
        else:
            out.append((name, value))
    out.append(("Content-Length", str(body_length)))
    return out


def _conditional_headers(etag: str | None, last_modified: str | None) -> list[tuple[bytes, bytes]]:
    headers = []
    if etag:
        headers.append((b"If-None-Match", etag.encode("latin-1")))
    if last_modified:
        headers.append((b"If-Modified-Since", last_modified.encode("latin-1")))
    return headers


@functools.cache
def _client_headers() -> list[tuple[bytes, bytes]]:
    """What httpx's client sends besides ours: Accept-Encoding names the codings httpx can
    decode on this install (brotli and zstd only when their packages are there)."""
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(204)))
    with client:
        return [(k, v) for k, v in client.headers.raw if k.lower() in (b"accept-encoding", b"connection")]


def _raw(pairs: list[tuple[bytes, bytes]]) -> Headers:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in pairs]


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
