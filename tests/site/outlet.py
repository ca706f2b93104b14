"""One outlet of the imitation news site: its content, misbehaviours and HTTP server.

An :class:`Outlet` is a :class:`ThreadingHTTPServer` on 127.0.0.1 with its own
ephemeral port, so outlets are distinct hosts. It keeps its articles, the per-path
:class:`Rule` set by the control API in :mod:`tests.site.server`, and a request log.
State is guarded by the site-wide lock in :class:`Shared`; pages are rendered outside
it from immutable :class:`Article` values. A TLS outlet wraps each accepted connection
with its current :class:`ssl.SSLContext` and shakes hands in the handler thread.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import socket
import ssl
import struct
import threading
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import pages
from .network import TEST_TLD, server_context
from .pages import Article, Brand

LOOPBACK = "127.0.0.1"


@dataclass
class Shared:
    """What all outlets of one site share."""

    page_bytes: int = 0
    log_limit: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    started: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


@dataclass
class Rule:
    """How one path misbehaves; a path without a rule is served normally."""

    kind: str = "live"  # live | status | redirect | soft404 | block | replaced
    status: int = 200
    generic: bool = False  # soft404: the dead-end page instead of the not-found one
    location: str = ""
    replacement: Article | None = None
    flaky: deque[int] = field(default_factory=deque)
    retry_after: int | None = None
    hang: float = 0.0
    drop: int = 0  # reset this many connections before answering again


@dataclass
class Response:
    status: int
    body: bytes
    ctype: str = pages.HTML_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    etag: str = ""  # set on static outlets; the handler adjusts it for gzip


class Outlet:
    """One outlet's content, misbehaviours, request log and listening server."""

    def __init__(self, name: str, shared: Shared, *, static: bool = False, gzipped: bool = False,
                 named: bool = False, tls: bool = False, soft404: bool = False,
                 blob: bool = False) -> None:
        self.name, self.shared, self.static, self.gzip = name, shared, static, gzipped
        self.blob = blob  # fixed chrome, but a new script nonce and state blob per request
        self.host = name + TEST_TLD if named else LOOPBACK
        self.soft404 = soft404
        self.redesigned = self.dns_broken = self.tls_broken = False
        hosts = (LOOPBACK, name + TEST_TLD)
        self.contexts = (server_context(hosts), server_context(hosts, trusted=False)) if tls else None
        self.port = 0
        self.articles: dict[str, Article] = {}
        self.rules: dict[str, Rule] = {}
        self.hits: Counter[str] = Counter()
        self.in_flight = self.peak_in_flight = 0  # requests being answered at once (politeness)
        self.log: defaultdict[str, deque[dict[str, Any]]] = defaultdict(
            lambda: deque(maxlen=shared.log_limit))
        self.bodies: dict[str, bytes] = {}
        self.connections: set[socket.socket] = set()
        self.accepted = 0  # connections ever opened (keep-alive reuses them)
        self.server: _Server | None = None

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("start the NewsSite first: ports are assigned by start()")
        return f"{'https' if self.contexts else 'http'}://{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context new connections are wrapped with (``None``: plain HTTP)."""
        if self.contexts is None:
            return None
        with self.shared.lock:
            return self.contexts[self.tls_broken]

    def open(self) -> None:
        """Listen (on the same port as before, once one was assigned) and serve."""
        if self.server is None:
            server = _Server((LOOPBACK, self.port), _Handler)
            server.outlet = self
            self.port = server.server_address[1]
            self.server = server
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             name=f"site-{self.name}", daemon=True).start()

    def close(self) -> None:
        """Close the listening socket and cut every open connection."""
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self.cut()

    def cut(self) -> None:
        """Cut every open connection (TCP shutdown under any TLS layer)."""
        with self.shared.lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def record(self, method: str, raw_path: str, path: str,
               headers: dict[str, str]) -> tuple[float, bool]:
        """Log a request; returns how long to hang and whether to reset the connection."""
        with self.shared.lock:
            self.hits[path] += 1
            if self.shared.log_limit:
                self.log[path].append({"method": method, "path": raw_path, "headers": headers})
            rule = self.rules.get(path)
            if rule is None:
                return 0.0, False
            if rule.drop:
                rule.drop -= 1
                return rule.hang, True
            return rule.hang, False

    def busy(self, delta: int) -> None:
        """One more (+1) or one fewer (-1) request being answered; keeps the peak."""
        with self.shared.lock:
            self.in_flight += delta
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def respond(self, path: str, headers: dict[str, str], query: str = "") -> Response:
        """The response for ``path``, misbehaviour included (``headers`` are lower-case)."""
        with self.shared.lock:
            rule = self.rules.get(path) or Rule()
            flaky = rule.flaky.popleft() if rule.flaky else None
            pool = list(self.articles.values())
            art = rule.replacement if rule.kind == "replaced" else self.articles.get(path)
        if flaky is not None:
            wait = [] if rule.retry_after is None else [("Retry-After", str(rule.retry_after))]
            return Response(flaky, pages.status_page(flaky), headers=wait)
        if rule.kind == "redirect":
            body = pages.redirect_page(rule.status, rule.location)
            return Response(rule.status, body, headers=[("Location", rule.location)])
        if rule.kind == "block":
            extra = [("WWW-Authenticate", 'Bearer realm="site"')] if rule.status == 401 else []
            return Response(rule.status, pages.bot_wall(rule.status), headers=extra)
        resp, modified = self._render(rule, path, art, pool, query)
        if self.static and resp.status == 200:
            return _conditional(resp, headers, modified)
        return resp

    def _render(self, rule: Rule, path: str, art: Article | None, pool: list[Article],
                query: str = "") -> tuple[Response, datetime]:
        """The outlet page for ``path`` and its last-modified time."""
        brand = Brand(self.name, self.base_url, self.redesigned)
        chrome, started = self._chrome(path, pool), self.shared.started
        if rule.kind == "status":
            page = pages.gone_page if rule.status == 410 else pages.not_found_page
            return Response(rule.status, page(brand, chrome)), started
        if rule.kind == "soft404" and rule.generic:
            return Response(200, pages.dead_end_page(brand, chrome, pool)), started
        if rule.kind == "soft404":
            return Response(200, pages.not_found_page(brand, chrome)), started
        if path == "/robots.txt":
            return Response(200, pages.ROBOTS_TXT, "text/plain; charset=utf-8"), started
        if path == "/" or path.startswith("/section/"):
            section = path.removeprefix("/section/").strip("/") if path != "/" else ""
            arts = [a for a in pool if not section or a.section == section]
            if not section or arts or section in pages.SECTIONS:
                newest = max((a.last_modified for a in arts), default=started)
                return Response(200, pages.front_page(brand, arts, chrome, section)), newest
        if path == "/search":
            words = " ".join(parse_qs(query).get("q", [])).split()
            return Response(200, pages.search_page(brand, words, pool, chrome)), started
        if path == "/page-not-found":
            return Response(200, pages.not_found_page(brand, chrome)), started
        if art is not None:
            return Response(200, pages.article_page(brand, art, chrome)), art.last_modified
        if self.soft404:
            return Response(200, pages.dead_end_page(brand, chrome, pool)), started
        return Response(404, pages.not_found_page(brand, chrome)), started

    def _chrome(self, path: str, pool: list[Article]) -> pages.Chrome:
        if self.static:
            return pages.fixed_chrome(f"{self.name}{path}", self.shared.page_bytes)
        if self.blob:
            chrome = pages.fixed_chrome(f"{self.name}{path}", self.shared.page_bytes)
            return replace(chrome, nonce=os.urandom(12).hex(), seed=None)
        return pages.churning_chrome(pool, path, self.shared.page_bytes)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    outlet: Outlet

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept; on a TLS outlet wrap with the current context, shaking hands later."""
        sock, address = self.socket.accept()
        ctx = self.outlet.ssl_context()
        if ctx is None:
            return sock, address
        try:
            return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address
        except OSError:
            sock.close()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients hanging up mid-response or refusing a certificate is normal here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.25.3"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        outlet = self.server.outlet
        with outlet.shared.lock:
            outlet.connections.add(self.request)
            outlet.accepted += 1
        try:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
            super().setup()
        except BaseException:
            with outlet.shared.lock:
                outlet.connections.discard(self.request)
            raise

    def finish(self) -> None:
        with self.server.outlet.shared.lock:
            self.server.outlet.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """No request logging."""

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        outlet, shared = self.server.outlet, self.server.outlet.shared
        parts = urlsplit(self.path)
        path = parts.path or "/"
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            low = key.lower()
            headers[low] = f"{headers[low]}, {value}" if low in headers else value
        hang, drop = outlet.record(self.command, self.path, path, headers)
        if drop:
            self._reset()
            return
        outlet.busy(+1)
        try:
            if hang:
                shared.stopping.wait(hang)
            if outlet.server is None or shared.stopping.is_set():
                self.close_connection = True  # outage or shutdown: drop without answering
                return
            resp = outlet.respond(path, headers, parts.query)
            zipped = outlet.gzip and _accepts_gzip(headers.get("accept-encoding", ""))
            if resp.status == 200 and not head and shared.log_limit:
                with shared.lock:  # before writing: a client may ask for it as soon as it has read
                    outlet.bodies[path] = resp.body
        finally:
            # done before writing: once the client has the answer it may send the next request,
            # which must not find this one still counted
            outlet.busy(-1)
        try:
            self._write(resp, head, zipped)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the client gets a reset instead of an answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()  # the fd goes once finish() closes rfile

    def _write(self, resp: Response, head: bool, zipped: bool) -> None:
        body, extra = resp.body, list(resp.headers)
        if resp.etag:
            extra.append(("ETag", _gz_etag(resp.etag) if zipped else resp.etag))
        if self.server.outlet.gzip:
            extra.append(("Vary", "Accept-Encoding"))
            if zipped and body and resp.status != 304:
                body = gzip.compress(body, compresslevel=5, mtime=0)
                extra.append(("Content-Encoding", "gzip"))
        self.send_response(resp.status)
        for key, value in extra:
            self.send_header(key, value)
        if resp.status != 304:
            self.send_header("Content-Type", resp.ctype)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and resp.status != 304:
            self.wfile.write(body)


def _accepts_gzip(accept: str) -> bool:
    for item in accept.lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _gz_etag(etag: str) -> str:
    return etag[:-1] + '-gzip"'


def _conditional(resp: Response, headers: dict[str, str], modified: datetime) -> Response:
    """Add validators to a static page's response; 304 if the client's copy is current."""
    etag = f'"{hashlib.sha256(resp.body).hexdigest()[:32]}"'
    extra = [("Last-Modified", format_datetime(modified.astimezone(UTC), usegmt=True)),
             ("Cache-Control", "max-age=0, must-revalidate")]
    if _not_modified(headers, etag, modified):
        return Response(304, b"", headers=extra, etag=etag)
    return replace(resp, headers=resp.headers + extra, etag=etag)


def _not_modified(headers: dict[str, str], etag: str, modified: datetime) -> bool:
    if "if-none-match" in headers:  # weak comparison; either encoding's tag counts
        tags = {t.strip().removeprefix("W/") for t in headers["if-none-match"].split(",")}
        return "*" in tags or etag in tags or _gz_etag(etag) in tags
    try:
        since = parsedate_to_datetime(headers.get("if-modified-since", ""))
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return modified.replace(microsecond=0) <= since
