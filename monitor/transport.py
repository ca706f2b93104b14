"""The connections under the fetcher: which HTTP library carries each request.

HTTP/1.1 goes through aiohttp, whose response parser is C (llhttp): a 304 costs ~0.2 ms of
CPU there against ~0.7 ms through httpcore and h11, pure Python. HTTP/2 goes through
httpx's own transport (httpcore and h2), one small pool per origin. An https origin is first
asked through that transport, which offers h2 in ALPN; once it has answered in HTTP/1.1, its
later requests go through aiohttp. Plain http has no HTTP/2 (no h2c), so it starts there.
One difference is kept: aiohttp sends a GET once more when the connection is reset or closed
before the answer (RFC 9112, 9.3.1, as browsers do), so a lone reset of an HTTP/1.1 server
is not a failed check; through httpcore it is, and the next check is soon (transient).

Written here rather than taken from httpx-aiohttp, the published aiohttp transport for httpx:
that one has no remote address (which silently turns off the private-address guard of
monitor/guard.py), reports DNS failures and disconnects as timeouts, and lets aiohttp's
parse errors escape as exceptions httpx callers do not catch. Every aiohttp failure here
becomes the httpx exception httpcore raises for it, chained, so ``classify_error``
(monitor/fetch.py) names it the same way whichever library carried the request.
"""

from __future__ import annotations

import contextlib
import errno
import ssl
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import yarl

from monitor.settings import FetchSettings

_HEADER_LIMIT = 100 * 1024  # what httpcore lets h11 take for a head; aiohttp's default is 8 KiB


class Connections(httpx.AsyncBaseTransport):
    """The fetcher's default transport (see the module's docstring). ``tls`` and
    ``resolver`` replace the system's CAs and DNS (the test site uses both)."""

    def __init__(self, settings: FetchSettings, *, keepalive: float = 5.0,
                 tls: ssl.SSLContext | None = None,
                 resolver: aiohttp.abc.AbstractResolver | None = None) -> None:
        self._tls = tls or httpx.create_ssl_context(verify=settings.verify_tls)  # one CA load
        self._per_host, self._keepalive, self._resolver = settings.per_host, keepalive, resolver
        self._http2 = OriginPools(settings, keepalive=keepalive, tls=self._tls) if settings.http2 else None
        self._http1_only: OrderedDict[tuple[bytes, int | None], None] = OrderedDict()
        self._most = max(1000, settings.concurrency * 64)  # origins remembered as HTTP/1.1 only
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = (request.url.raw_host, request.url.port)
        if self._http2 is None or request.url.scheme != "https" or origin in self._http1_only:
            return await self._http1(request)
        response = await self._http2.handle_async_request(request)
        if response.extensions.get("http_version") == b"HTTP/1.1":  # ALPN chose HTTP/1.1
            self._http1_only[origin] = None
            if len(self._http1_only) > self._most:
                self._http1_only.popitem(last=False)
        return response

    async def _http1(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        try:
            response = await session.request(
                request.method, yarl.URL(str(request.url), encoded=True),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                data=await request.aread() or None, allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout", {})))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise as_httpx_error(exc, request) from exc
        assert isinstance(response, _Response) and response.version is not None
        return httpx.Response(
            response.status, headers=response.raw_headers, stream=_Body(response, request),
            extensions={"http_version": b"HTTP/%d.%d" % (response.version.major, response.version.minor),
                        "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
                        "server_addr": response.peer})

    def _open(self) -> aiohttp.ClientSession:
        """Made on first use: aiohttp binds a session to the running event loop."""
        # no DNS cache of aiohttp's own: a new connection asks the system, as with httpcore
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=self._per_host, ssl=self._tls,
                                         keepalive_timeout=self._keepalive, resolver=self._resolver,
                                         use_dns_cache=False)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False,  # httpx decodes, as for HTTP/2
            cookie_jar=aiohttp.DummyCookieJar(), response_class=_Response, trust_env=False,
            max_line_size=_HEADER_LIMIT, max_field_size=_HEADER_LIMIT, max_headers=1000)
        return self._session

    def _timeout(self, given: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (given.get("connect"), given.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=key[0], sock_read=key[1])
        return timeout

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._http2 is not None:
            await self._http2.aclose()


class _Response(aiohttp.ClientResponse):
    """Keeps the remote address: a response without a body has given its connection back
    to the pool before the caller could ask it."""

    peer: tuple[str, int] | None = None

    async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        self.peer = transport.get_extra_info("peername") if transport is not None else None
        return await super().start(connection)


class _Body(httpx.AsyncByteStream):
    """aiohttp's response body as httpx reads it; closing it frees or drops the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response, self._request = response, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise as_httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to the end: the connection can serve another
        else:
            self._response.close()  # abandoned mid-body (too large, failed): never reused


def as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception httpcore raises for the failure aiohttp reported as ``exc``."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text, request=request)
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, TLS: the chain says which
        if not isinstance(exc, aiohttp.ClientSSLError):
            text = str(exc.os_error) or text  # the system's words, as httpcore gives them
        if exc.os_error.errno == errno.ECONNREFUSED and "refused" not in text.lower():
            text += " (connection refused)"
        return httpx.ConnectError(text, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # the parser refused the response
        return httpx.RemoteProtocolError(f"bad HTTP response: {exc.message}", request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(text, request=request)
    if isinstance(exc, OSError):  # reset, broken pipe
        return httpx.ReadError(text, request=request)
    return httpx.TransportError(f"{type(exc).__name__}: {text}", request=request)


class OriginPools(httpx.AsyncBaseTransport):
    """httpx's own transport, one per origin (scheme, host, port), each with a pool of at most
    ``per_host`` connections.

    httpcore's pool scans all its connections twice per request (when it is queued and when its
    response is closed) and, for each idle one, builds a list of all of them and asks the socket
    whether the server closed it: quadratic in the number of connections. One shared pool for 10
    hosts × 2 connections cost ~0.5 ms of CPU per fetch, a third of all the fetch cost. Per
    origin a scan looks at one or two connections. Pools unused for ``keepalive`` seconds, and the
    least recently used beyond ``concurrency * 4``, are closed (with their idle connections)."""

    def __init__(self, settings: FetchSettings, *, keepalive: float = 5.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self._http2 = settings.http2
        self._limits = httpx.Limits(max_connections=settings.per_host, keepalive_expiry=keepalive)
        self._tls = tls or httpx.create_ssl_context(verify=settings.verify_tls)  # one CA load, shared
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


def remote_ip(response: httpx.Response) -> str | None:
    """The address the answer came from, as either library reports it."""
    address: Any = response.extensions.get("server_addr")
    if address is None:
        stream = response.extensions.get("network_stream")
        if stream is None:
            return None
        address = _stream_address(stream)
    return str(address[0]) if address else None


def _stream_address(stream: Any) -> Any:
    try:
        return _ADDRESSES[stream]
    except (KeyError, TypeError):
        pass
    try:
        address = stream.get_extra_info("server_addr")
    except Exception:  # transports differ; the IP is a nicety, never a failure
        return None
    with contextlib.suppress(TypeError):  # a stream without weak references is asked each time
        _ADDRESSES[stream] = address
    return address


# the remote address of each httpcore connection, asked once: anyio answers by building a dict
# of all the socket's attributes (and a getpeername call) each time
_ADDRESSES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
