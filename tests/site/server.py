"""The imitation news site: several outlets on 127.0.0.1 and the API that drives them.

:class:`NewsSite` owns one :class:`~tests.site.outlet.Outlet` (an HTTP server on its own
ephemeral port) per outlet name and lets a test publish, edit, break and restore
articles while a client fetches them, then inspect what the client sent. Its
:meth:`~NewsSite.transport` resolves the site's ``*.test`` names and trusts its test CA.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from .network import SiteResolver, SiteTransport, authority
from .outlet import LOOPBACK, Outlet, Rule, Shared
from .pages import Article

MAX_HANG = 60.0  # seconds; hang() never holds a handler thread longer than this
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class NewsSite:
    """Several fake news outlets on 127.0.0.1, each with its own port, plus controls.

    ``static_outlets`` serve byte-identical pages while content is unchanged, with a
    strong ``ETag`` and ``Last-Modified`` and 304 answers to conditional requests;
    the others re-randomise their page chrome on every request; ``blob_outlets`` only what
    scripts read (a script nonce and the ``__NEXT_DATA__`` state blob), as most real sites
    do, keeping the visible chrome and the markup fixed. ``gzip_outlets``
    gzip bodies for clients that accept it. ``page_kb`` pads every outlet page to
    about that many KB with a ``__NEXT_DATA__`` blob (0: no padding). ``log_limit``
    caps :meth:`requests` per path; 0 keeps neither requests nor bodies (long benchmarks).

    ``named_outlets`` live at ``http://<name>.test:PORT`` instead of 127.0.0.1. Nothing on
    the machine resolves those names: fetch them through :meth:`transport`, whose fake DNS
    answers 127.0.0.1 for them (until :meth:`dns_fail`) and "Name or service not known"
    for any other ``.test`` name. ``tls_outlets`` serve HTTPS with a certificate for
    127.0.0.1 and ``<name>.test`` from a test CA (:attr:`ca_pem`; :meth:`transport` trusts
    it); :meth:`tls_break` swaps in an untrusted one. ``soft404_outlets`` answer 200 with
    a generic "dead end" page (no error wording, same text for every path) for any path
    that is not an article, a front, ``/search``, ``/page-not-found`` or robots.txt.

    Ways for one URL to break: :meth:`set_status`, :meth:`redirect`, :meth:`redirect_home`,
    :meth:`redirect_section`, :meth:`redirect_search`, :meth:`redirect_to_404_page`,
    :meth:`soft404`, :meth:`replace`, :meth:`block`, :meth:`flaky`, :meth:`hang`,
    :meth:`drop`; :meth:`restore` undoes them. Whole outlets: :meth:`outage`,
    :meth:`dns_fail`, :meth:`tls_break`, :meth:`redesign`.
    """

    def __init__(self, outlets: Sequence[str] = ("apnews", "reuters", "cnn"), *,
                 page_kb: int = 0, static_outlets: Iterable[str] = (),
                 gzip_outlets: Iterable[str] = (), named_outlets: Iterable[str] = (),
                 tls_outlets: Iterable[str] = (), soft404_outlets: Iterable[str] = (),
                 blob_outlets: Iterable[str] = (), log_limit: int = 1000) -> None:
        static, zipped, blob = set(static_outlets), set(gzip_outlets), set(blob_outlets)
        named, tls, soft = set(named_outlets), set(tls_outlets), set(soft404_outlets)
        unknown = (static | zipped | named | tls | soft | blob) - set(outlets)
        if unknown:
            raise ValueError(f"unknown outlets: {sorted(unknown)}")
        self._shared = Shared(page_bytes=page_kb * 1024, log_limit=log_limit)
        self._lock = self._shared.lock
        self._outlets = {n: Outlet(n, self._shared, static=n in static, gzipped=n in zipped,
                                   named=n in named, tls=n in tls, soft404=n in soft,
                                   blob=n in blob)
                         for n in outlets}

    def start(self) -> NewsSite:
        """Start listening on every outlet; returns ``self``."""
        self._shared.stopping.clear()
        for outlet in self._outlets.values():
            outlet.open()
        return self

    def stop(self) -> None:
        """Close every outlet at once; hanging handlers are abandoned (daemon threads)."""
        self._shared.stopping.set()
        _close_all(self._outlets.values())

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def outlets(self) -> list[str]:
        """The outlet names, in the order given."""
        return list(self._outlets)

    def base_url(self, outlet: str) -> str:
        """``http://127.0.0.1:PORT`` of an outlet (the port is fixed once started); a named
        outlet has ``<name>.test`` as host, a TLS outlet ``https``."""
        return self._outlets[outlet].base_url

    @property
    def ca_pem(self) -> bytes:
        """The PEM bytes of the CA that signs the TLS outlets' certificates."""
        return authority().cert_pem.bytes()

    def transport(self) -> httpx.AsyncHTTPTransport:
        """An HTTP/1.1 transport for ``httpx.AsyncClient`` (or the monitor's ``Fetcher``)
        that resolves this site's ``<name>.test`` names, fails any other ``.test`` name
        like a DNS miss, connects to every other host as usual and trusts only the test CA.
        """
        return SiteTransport(self._resolve)

    def resolver(self) -> SiteResolver:
        """The same name lookups for aiohttp (``monitor.transport.Connections(resolver=…)``)."""
        return SiteResolver(self._resolve)

    def dns_fail(self, outlet: str, broken: bool = True) -> None:
        """Make a named outlet's host name stop resolving (``broken=False``: resolve again);
        open connections are cut, so clients have to look the name up again."""
        out = self._outlets[outlet]
        if out.host == LOOPBACK:
            raise ValueError(f"{outlet} is not a named outlet")
        with self._lock:
            out.dns_broken = broken
        out.cut()

    def tls_break(self, outlet: str, broken: bool = True) -> None:
        """New connections to a TLS outlet get a certificate from an untrusted CA
        (``broken=False``: the good one again); open connections are cut."""
        out = self._outlets[outlet]
        if out.contexts is None:
            raise ValueError(f"{outlet} is not a TLS outlet")
        with self._lock:
            out.tls_broken = broken
        out.cut()

    def add_article(self, outlet: str, slug: str, *, headline: str, byline: str = "By Staff",
                    published: datetime | None = None, paragraphs: Sequence[str] = (),
                    section: str = "news", embed: str = "") -> str:
        """Publish an article at ``/article/<slug>``; returns its absolute URL.

        Give it at least ~250 characters of text: below that, trafilatura's fallback
        heuristics may pull the headline and byline into the extracted text.
        """
        out = self._outlets[outlet]
        art = Article(slug, headline, byline, _aware(published or datetime.now(UTC)),
                      tuple(paragraphs), section, embed=embed)
        with self._lock:
            if art.path in out.articles:
                raise ValueError(f"{outlet} already has {art.path}")
            out.articles[art.path] = art
        return out.base_url + art.path

    def article(self, url: str) -> Article:
        """The article as currently published at ``url`` (ignoring any misbehaviour)."""
        out, path = self._locate(url)
        with self._lock:
            return out.articles[path]

    def urls(self) -> list[str]:
        """Every article URL ever added, outlet by outlet, in publication order."""
        with self._lock:
            return [o.base_url + p for o in self._outlets.values() for p in o.articles]

    def edit(self, url: str, headline: str | None = None, byline: str | None = None,
             paragraphs: Sequence[str] | None = None, append: str | None = None,
             modified: datetime | None = None, *, stealth: bool = False) -> None:
        """Really change the article; ``append`` adds one paragraph at the end.

        ``modified`` defaults to now; ``stealth=True`` leaves the modified time as it
        was (an unannounced edit).
        """
        out, path = self._locate(url)
        with self._lock:
            art = out.articles[path]
            paras = tuple(art.paragraphs if paragraphs is None else paragraphs)
            paras += (append,) if append is not None else ()
            when = art.modified if stealth else _aware(modified or datetime.now(UTC))
            out.articles[path] = replace(art, headline=headline or art.headline,
                                         byline=byline or art.byline, paragraphs=paras,
                                         modified=when)

    def redesign(self, outlet: str, on: bool = True) -> None:
        """Switch the outlet to its other template; article content stays the same."""
        self._outlets[outlet].redesigned = on

    def set_status(self, url: str, status: int = 404) -> None:
        """Take the page down: serve the outlet's 404 page (410: "removed" page)."""
        if not 400 <= status <= 599:
            raise ValueError(f"not an error status: {status}")
        self._set(url, kind="status", status=status)

    def redirect(self, url: str, to_url: str, code: int = 301) -> None:
        """Answer with a redirect to ``to_url``."""
        if code not in REDIRECT_CODES:
            raise ValueError(f"not a redirect status: {code}")
        self._set(url, kind="redirect", status=code, location=to_url)

    def redirect_home(self, url: str) -> None:
        """301 to the outlet's homepage, as sites do for retired stories."""
        out, _ = self._locate(url)
        self.redirect(url, out.base_url + "/", 301)

    def redirect_section(self, url: str) -> None:
        """301 to the article's section front ``/section/<section>``."""
        out, path = self._locate(url)
        with self._lock:
            section = out.articles[path].section
        self.redirect(url, f"{out.base_url}/section/{section}", 301)

    def redirect_search(self, url: str) -> None:
        """302 to the outlet's search for the slug's words: ``/search?q=word+word``."""
        out, path = self._locate(url)
        words = path.rstrip("/").rsplit("/", 1)[-1].split("-")
        self.redirect(url, f"{out.base_url}/search?q={'+'.join(w for w in words if w)}", 302)

    def redirect_to_404_page(self, url: str) -> None:
        """302 to ``/page-not-found``, which serves the outlet's not-found page with 200."""
        out, _ = self._locate(url)
        self.redirect(url, out.base_url + "/page-not-found", 302)

    def soft404(self, url: str, generic: bool = False) -> None:
        """Serve the outlet's "page not found" page with status 200; ``generic=True``: the
        dead-end page of soft-404 outlets instead (no error wording to match)."""
        self._set(url, kind="soft404", status=200, generic=generic)

    def replace(self, url: str, headline: str, paragraphs: Sequence[str],
                byline: str = "By Staff") -> None:
        """Serve a different article at the same URL (content drift)."""
        _, path = self._locate(url)
        other = Article(path.rsplit("/", 1)[-1], headline, byline, datetime.now(UTC),
                        tuple(paragraphs))
        self._set(url, kind="replaced", status=200, replacement=other)

    def block(self, url: str, status: int = 403) -> None:
        """Serve a bot wall ("Access denied", captcha) with ``status`` (403, 401, 451, or 200 as
        some bot checks do)."""
        self._set(url, kind="block", status=status)

    def flaky(self, url: str, statuses: Sequence[int], retry_after: int | None = None) -> None:
        """The next ``len(statuses)`` requests get these statuses, then normal service."""
        self._set(url, flaky=deque(statuses), retry_after=retry_after)

    def drop(self, url: str, count: int = 1) -> None:
        """The next ``count`` requests get no answer: the connection is reset, then normal service."""
        self._set(url, drop=max(count, 0))

    def hang(self, url: str, seconds: float) -> None:
        """Delay every answer for ``url`` by ``seconds`` (capped at ``MAX_HANG``)."""
        self._set(url, hang=min(max(seconds, 0.0), MAX_HANG))

    def restore(self, url: str) -> None:
        """Back to the normal live article: clears every misbehaviour for ``url``."""
        out, path = self._locate(url)
        with self._lock:
            out.rules.pop(path, None)

    def outage(self, down: bool, outlet: str | None = None) -> None:
        """Network down: close the listening sockets (refusing connections) and cut open
        ones, for every outlet or just ``outlet``. ``outage(False)`` reopens the same ports.
        """
        outs = list(self._outlets.values()) if outlet is None else [self._outlets[outlet]]
        if down:
            _close_all(outs)
        else:
            for out in outs:
                out.open()

    def hits(self, url: str) -> int:
        """How many requests arrived for the URL's path (any query string)."""
        out, path = self._locate(url)
        with self._lock:
            return out.hits[path]

    def connections_accepted(self, outlet: str) -> int:
        """How many connections the outlet has accepted since it started."""
        out = self._outlets[outlet]
        with self._lock:
            return out.accepted

    def peak_in_flight(self, outlet: str) -> int:
        """The most requests the outlet was answering at one time (from arrival until the answer
        is written), since it started."""
        out = self._outlets[outlet]
        with self._lock:
            return out.peak_in_flight

    def requests(self, url: str) -> list[dict[str, Any]]:
        """The requests for that path: ``{"method", "path", "headers"}`` (lower-case keys).

        Only the latest ``log_limit`` are kept per path.
        """
        out, path = self._locate(url)
        with self._lock:
            return [dict(r, headers=dict(r["headers"])) for r in out.log.get(path, ())]

    def last_body(self, url: str) -> bytes:
        """The decoded bytes of the last 200 response body served for the URL's path."""
        out, path = self._locate(url)
        with self._lock:
            if path not in out.bodies:
                raise KeyError(f"no 200 body served yet for {url}")
            return out.bodies[path]

    def _locate(self, url: str) -> tuple[Outlet, str]:
        parts = urlsplit(url)
        hosts = (LOOPBACK, "localhost")
        for out in self._outlets.values():
            if out.port and parts.port == out.port and parts.hostname in (*hosts, out.host):
                return out, parts.path or "/"
        raise KeyError(f"not a URL of this site: {url}")

    def _resolve(self, host: str) -> str | None:
        """The fake DNS: a ``.test`` name's address, ``None`` if it does not resolve."""
        with self._lock:
            for out in self._outlets.values():
                if out.host == host:
                    return None if out.dns_broken else LOOPBACK
        return None

    def _set(self, url: str, **changes: Any) -> None:
        out, path = self._locate(url)
        with self._lock:
            rule = out.rules.setdefault(path, Rule())
            for key, value in changes.items():
                setattr(rule, key, value)


def _aware(when: datetime) -> datetime:
    """Naive datetimes are taken to be UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _close_all(outlets: Iterable[Outlet]) -> None:
    """Close outlets in parallel: each close waits up to one server poll interval."""
    threads = [threading.Thread(target=o.close) for o in outlets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
