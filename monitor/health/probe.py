"""The Bar-Yossef probe: is this 200 page just the host's answer to any path?

Bar-Yossef et al., "Sic transit gloria telae" (WWW 2004): ask the host for a random
sibling path that cannot exist. A host that answers it with 404 is honest, and its
200 pages are real. A host that answers 200 (or redirects somewhere) serves soft
404s, and a page that looks like that answer is dead whatever it says.

One probe per host, cached in the ``host`` table for ``health.probe_ttl`` (a failed
probe is retried after an hour). The probe is a fetch of our own initiative, so
robots.txt is honoured (RFC 9309: a 4xx robots.txt allows all, an unreachable one
allows nothing).
"""

from __future__ import annotations

import asyncio
import random
import string
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from sqlalchemy import Engine

from monitor.clock import Clock, iso, parse_time
from monitor.compare import ArticleContent, similarity
from monitor.exchange import FetchError, HttpExchange
from monitor.extract import Extractor
from monitor.fetch import Fetcher
from monitor.settings import HealthSettings
from monitor.store import Host, session
from monitor.urls import canonical_or_raw, host_of

RETRY_FAILED_PROBE = timedelta(hours=1)
SAME_PAGE = 0.8  # text similarity at which a page is the host's dead end
SAME_PAGE_WITH_TITLE = 0.5  # ... when the titles are identical too
_MAX_TEXT = 20_000


@dataclass(frozen=True)
class HostProbe:
    """How a host answered a path that cannot exist."""

    verdict: str  # honest | soft | redirect | unknown | disallowed
    url: str
    at: datetime
    status: int | None = None
    final_url: str | None = None
    title: str = ""
    text: str = ""
    reason: str = ""

    @property
    def serves_soft_404s(self) -> bool:
        return self.verdict in ("soft", "redirect")

    def matches(self, final_url: str, content: ArticleContent | None) -> str | None:
        """Why a page at ``final_url`` with ``content`` is this host's dead end, or None."""
        if not self.serves_soft_404s:
            return None
        if self.verdict == "redirect" and self.final_url and _page_of(final_url) == _page_of(self.final_url):
            return f"lands where a random path on this host lands ({self.final_url})"
        if content is None or not (self.text or self.title):
            return None
        score = similarity(self.text, content.text)
        same_title = bool(self.title) and self.title.strip() == content.title.strip()
        if score >= SAME_PAGE or (same_title and score >= SAME_PAGE_WITH_TITLE):
            return f"same page as a random path on this host ({self.url}, similarity {score:.2f})"
        return None

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "url": self.url, "at": iso(self.at), "status": self.status,
                "final_url": self.final_url, "title": self.title, "text": self.text,
                "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostProbe:
        return cls(data["verdict"], data["url"], parse_time(data["at"]), data.get("status"),
                   data.get("final_url"), data.get("title") or "", data.get("text") or "",
                   data.get("reason") or "")


class Prober:
    """Runs and caches probes; one in flight per host, shared by every check of a pass."""

    def __init__(self, engine: Engine, fetcher: Fetcher, extractor: Extractor, clock: Clock,
                 policy: HealthSettings, user_agent: str, rng: random.Random | None = None) -> None:
        self._engine, self._fetcher, self._extractor = engine, fetcher, extractor
        self._clock, self._policy, self._agent = clock, policy, user_agent.split("/", 1)[0]
        self._rng = rng or random.Random()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._memo: dict[str, HostProbe] = {}

    async def probe(self, source_url: str) -> HostProbe:
        """The host's probe result, from the cache when still fresh."""
        host = host_of(source_url)
        async with self._locks[host]:
            cached = self._memo.get(host) or self._load(host)
            if cached is not None and self._fresh(cached):
                self._memo[host] = cached
                return cached
            result = await self._run(source_url)
            self._memo[host] = result
            self._save(host, result)
            return result

    def _fresh(self, probe: HostProbe) -> bool:
        ttl = RETRY_FAILED_PROBE if probe.verdict == "unknown" else self._policy.probe_ttl
        return self._clock.now() - probe.at < ttl

    async def _run(self, source_url: str) -> HostProbe:
        url = sibling_url(source_url, self._rng)
        now = self._clock.now()
        if not await self._allowed(url):
            return HostProbe("disallowed", url, now, reason="robots.txt disallows the probe")
        result = await self._fetcher.fetch(url)
        if isinstance(result, FetchError):
            return HostProbe("unknown", url, now, reason=f"{result.error_class}: {result.message}")
        return await self._verdict(url, result, now)

    async def _verdict(self, url: str, result: HttpExchange, now: datetime) -> HostProbe:
        status = result.status
        if status == 429 or status >= 500 or status < 200 or 300 <= status < 400:
            return HostProbe("unknown", url, now, status, reason=f"probe answered {status}")
        if status >= 400:
            return HostProbe("honest", url, now, status, reason=f"a random path gets {status}")
        final = canonical_or_raw(result.url)
        content = await self._extractor.extract(result.body, result.url) if result.body else None
        redirected = bool(result.redirects) and final != canonical_or_raw(url)
        verdict = "redirect" if redirected else "soft"
        return HostProbe(verdict, url, now, status, final,
                         content.title if content else "", content.text[:_MAX_TEXT] if content else "",
                         f"a random path gets {status}" + (f" at {final}" if redirected else ""))

    async def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        answer = await self._fetcher.fetch(robots_url)
        if isinstance(answer, FetchError) or answer.status == 429 or answer.status >= 500:
            return False
        if answer.status >= 400:
            return True
        parser = RobotFileParser()
        parser.parse(answer.body.decode("utf-8", "replace").splitlines())
        return parser.can_fetch(self._agent, url)

    def _load(self, host: str) -> HostProbe | None:
        with session(self._engine) as db:
            row = db.get(Host, host)
            if row is None or not row.probe:
                return None
            return HostProbe.from_json(row.probe)

    def _save(self, host: str, probe: HostProbe) -> None:
        with session(self._engine) as db:
            row = db.get(Host, host) or Host(host=host)
            row.probe, row.probe_at = probe.to_json(), probe.at
            db.add(row)
            db.commit()


def sibling_url(url: str, rng: random.Random) -> str:
    """The URL with its last path segment replaced by a random one (extension kept)."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    token = "".join(rng.choices(string.ascii_lowercase + string.digits, k=16))
    last = next((i for i in range(len(segments) - 1, -1, -1) if segments[i]), None)
    if last is None:
        path = "/" + token
    else:
        stem, dot, ext = segments[last].rpartition(".")
        keep_ext = dot and stem and 0 < len(ext) <= 5 and ext.isalnum()
        segments[last] = f"{token}.{ext}" if keep_ext else token
        path = "/".join(segments)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _page_of(url: str) -> tuple[str, str]:
    """Host and path: where a redirect lands, whatever query it carries."""
    parts = urlsplit(canonical_or_raw(url))
    return parts.netloc, parts.path.rstrip("/") or "/"
