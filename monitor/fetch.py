"""Fetching: one shared async httpx client with timeouts, body limit, redirects
recorded hop by hop, conditional GET, and global and per-host concurrency limits.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
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
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=settings.concurrency * 2),
            headers={"User-Agent": user_agent, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
            http2=settings.http2 and transport is None,
            verify=settings.verify_tls,
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

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


def _remote_ip(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        address = stream.get_extra_info("server_addr")
    except Exception:  # transports differ; the IP is a nicety, never a failure
        return None
    return str(address[0]) if address else None


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
