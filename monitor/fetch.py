"""Fetching: one shared async httpx client with timeouts, body limit, redirects
recorded hop by hop, conditional GET, and global and per-host concurrency limits.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from datetime import datetime
from urllib.parse import urljoin

import httpx

from monitor.clock import Clock
from monitor.exchange import FetchError, Headers, Hop, HttpExchange, HttpRequest
from monitor.guard import RefusedURL, is_private, refuse_private
from monitor.settings import FetchSettings
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
        if transport is None:
            transport = OriginPools(settings)
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={"User-Agent": user_agent, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

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
        current = url
        while True:
            try:
                if not private_ok:
                    await refuse_private(current)
                exchange = await self._get_once(current, conditional, started, t0, hops)
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
            current, conditional = target, {}

    async def _get_once(
        self, url: str, extra: dict[str, str], started: datetime, t0: float, hops: list[Hop]
    ) -> HttpExchange:
        host = host_of(url)
        async with self._global, self._hosts[host], self._host_slot(host):
            try:
                return await self._stream(url, extra, started, t0, hops)
            except httpx.HTTPError as exc:
                raise FetchFailed(*classify_error(exc)) from None
            except ssl.SSLError as exc:
                raise FetchFailed("tls", str(exc)) from None

    async def _stream(
        self, url: str, extra: dict[str, str], started: datetime, t0: float, hops: list[Hop]
    ) -> HttpExchange:
        request = self._client.build_request("GET", url, headers=extra)
        response = await self._client.send(request, stream=True)
        try:
            body = await self._read_body(response)
        finally:
            await response.aclose()
        return HttpExchange(
            request=HttpRequest("GET", url, _raw(request.headers.raw)),
            status=response.status_code,
            reason=response.reason_phrase,
            headers=consistent_headers(_raw(response.headers.raw), len(body)),
            body=body,
            fetched_at=started,
            elapsed_ms=_ms(t0),
            remote_ip=_remote_ip(response),
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


class OriginPools(httpx.AsyncBaseTransport):
    """httpx's own transport, one per origin (scheme, host, port), each with a pool of at most
    ``per_host`` connections.

    httpcore's pool scans all its connections twice per request (when it is queued and when its
    response is closed) and, for each idle one, builds a list of all of them and asks the socket
    whether the server closed it: quadratic in the number of connections. One shared pool for 10
    hosts × 2 connections cost ~0.5 ms of CPU per fetch, a third of all the fetch cost. Per
    origin a scan looks at one or two connections. Pools unused for ``keepalive`` seconds, and the
    least recently used beyond ``concurrency * 4``, are closed (with their idle connections)."""

    def __init__(self, settings: FetchSettings, *, keepalive: float = 5.0) -> None:
        self._http2 = settings.http2
        self._limits = httpx.Limits(max_connections=settings.per_host, keepalive_expiry=keepalive)
        self._tls = httpx.create_ssl_context(verify=settings.verify_tls)  # one CA load, shared
        self._keepalive = keepalive
        self._most = settings.concurrency * 4
        self._pools: OrderedDict[tuple[bytes, bytes, int | None], _Pool] = OrderedDict()
        self._swept = time.monotonic()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        pool = self._pools.get(key)
        if pool is None:
            await self._sweep()
            transport = httpx.AsyncHTTPTransport(verify=self._tls, http2=self._http2, limits=self._limits)
            pool = self._pools[key] = _Pool(transport)
        else:
            self._pools.move_to_end(key)
        pool.used, pool.busy = time.monotonic(), pool.busy + 1
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            pool.busy -= 1
            raise
        response.stream = _Counted(response.stream, pool)
        return response

    async def _sweep(self) -> None:
        now = time.monotonic()
        if len(self._pools) < self._most and now - self._swept < self._keepalive:
            return
        self._swept = now
        for key, pool in list(self._pools.items()):
            if pool.busy == 0 and (len(self._pools) >= self._most or now - pool.used > self._keepalive):
                del self._pools[key]
                await pool.transport.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.transport.aclose()


class _Pool:
    __slots__ = ("busy", "transport", "used")

    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport, self.used, self.busy = transport, 0.0, 0


class _Counted(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed (the connection is free again)."""

    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, pool: _Pool) -> None:
        assert isinstance(inner, httpx.AsyncByteStream)
        self._inner, self._pool, self._open = inner, pool, True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._pool.busy -= 1
        await self._inner.aclose()


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


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _raw(pairs: list[tuple[bytes, bytes]]) -> Headers:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in pairs]


# the remote IP of each connection, asked once: anyio answers by building a dict of all the
# socket's attributes (and a getpeername call) each time
_IPS: weakref.WeakKeyDictionary[object, str | None] = weakref.WeakKeyDictionary()


def _remote_ip(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        return _IPS[stream]
    except (KeyError, TypeError):
        pass
    try:
        address = stream.get_extra_info("server_addr")
    except Exception:  # transports differ; the IP is a nicety, never a failure
        return None
    ip = str(address[0]) if address else None
    with suppress(TypeError):  # a stream without weak references is asked each time
        _IPS[stream] = ip
    return ip


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
