"""What one fetch says about a link: the observation the health state machine judges.

This is where a single response is read as evidence: a 404, a refused connection,
a bot wall, a redirect to the homepage, a "page not found" served with 200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from monitor.clock import iso
from monitor.compare import ArticleContent
from monitor.exchange import FetchError, HttpExchange
from monitor.fetch import NETWORK_ERRORS
from monitor.urls import canonical_or_raw


class Signal(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    GONE = "gone"  # 404
    GONE_410 = "gone_410"
    UNREACHABLE = "unreachable"  # DNS, refused, TLS
    TRANSIENT = "transient"  # 429, 5xx, timeout, reset: never evidence of death
    BLOCKED = "blocked"  # 401/402/403/451 walls and bot checks
    MOVED = "moved"  # permanent redirect to a new URL carrying the article
    HOMEPAGE = "homepage"  # redirected to the site root or a section front
    SOFT404 = "soft404"  # 200 page that says "not found", or the host's answer to any path
    DRIFT = "drift"  # the URL now serves a different article


HEALTHY = frozenset({Signal.OK, Signal.NOT_MODIFIED, Signal.MOVED})
DEATH = frozenset(
    {Signal.GONE, Signal.GONE_410, Signal.UNREACHABLE, Signal.HOMEPAGE, Signal.SOFT404, Signal.DRIFT}
)
BLOCKING_STATUSES = frozenset({401, 402, 403, 451})
HARD_UNREACHABLE = frozenset({"dns", "refused", "tls"})

# Titles and headings of "not found" pages, in the languages of the press we watch.
_NOT_FOUND = re.compile(
    r"page not found|\b404\b.{0,20}(not found|error|page)|error 404|^not found$"
    r"|couldn.t find (that|the|this) page|page (does not|doesn.t) exist"
    r"|no longer available|seite nicht gefunden|page introuvable|página no encontrada"
    r"|pagina non trovata|pagina niet gevonden|страница не найдена|页面不存在|找不到页面"
    r"|ページが見つかりません",
    re.IGNORECASE,
)
# Where sites send retired stories: section fronts, search pages, error pages.
_SECTION_WORDS = frozenset({
    "news", "world", "us", "uk", "politics", "business", "economy", "markets", "tech",
    "technology", "science", "health", "sport", "sports", "culture", "arts", "entertainment",
    "opinion", "lifestyle", "travel", "style", "climate", "environment", "latest", "home", "index",
    "europe", "asia", "africa", "americas", "australia", "china", "middle-east", "local",
    "national", "international", "video", "videos", "live", "blog", "blogs", "magazine",
    "features", "stories", "articles",
})
_TAXONOMY = frozenset({
    "section", "sections", "category", "categories", "topic", "topics", "tag", "tags", "hub",
})
_ERROR_SEGMENT = re.compile(
    r"^(404|410|error|errors|not-?found|page-?not-?found|pagenotfound|gone|missing)(\.\w+)?$",
    re.IGNORECASE,
)
_BOT_CHECK = re.compile(
    r"just a moment\.\.\.|attention required|access denied|are you a (robot|human)"
    r"|verify (that )?you are (a )?human|captcha|pardon our interruption|security check"
    r"|bot (verification|protection)|enable (js|javascript) and cookies|request unsuccessful",
    re.IGNORECASE,
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SEARCH_KEYS = frozenset({"q", "s", "query", "search", "keyword", "keywords"})


@dataclass(frozen=True)
class Observation:
    signal: Signal
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    new_url: str | None = None  # for MOVED
    retry_after: int | None = None  # seconds, for TRANSIENT


def observe(
    result: HttpExchange | FetchError, source_url: str, content: ArticleContent | None
) -> Observation:
    """Read one fetch as evidence about the link at ``source_url``."""
    if isinstance(result, FetchError):
        return _observe_error(result)
    evidence = _evidence(result)
    status = result.status
    if status == 304:
        return Observation(Signal.NOT_MODIFIED, "304 not modified", evidence)
    if status in (404, 410):
        signal = Signal.GONE_410 if status == 410 else Signal.GONE
        return Observation(signal, f"{status} {result.reason}".strip(), evidence)
    if status in BLOCKING_STATUSES:
        return Observation(Signal.BLOCKED, f"{status} {result.reason} (wall)".strip(), evidence)
    if result.header("cf-mitigated") == "challenge":
        return Observation(Signal.BLOCKED, f"{status} bot check (challenge)", evidence)
    if status == 429 or status >= 500:
        retry = _retry_after(result.header("retry-after"), result.fetched_at)
        return Observation(Signal.TRANSIENT, f"{status} {result.reason}".strip(), evidence, None, retry)
    if 400 <= status < 500:
        return Observation(Signal.GONE, f"{status} {result.reason}".strip(), evidence)
    return _observe_page(result, source_url, content, evidence)


def _observe_page(
    result: HttpExchange, source_url: str, content: ArticleContent | None, evidence: dict[str, Any]
) -> Observation:
    if looks_like_bot_check(result.body, content):
        return Observation(Signal.BLOCKED, f"{result.status} bot check page", evidence)
    final = canonical_or_raw(result.url)
    if result.redirects and final != source_url:
        dead_end = redirect_dead_end(source_url, final)
        if dead_end is not None:
            return Observation(dead_end[0], f"redirected to {dead_end[1]} {final}", evidence)
    if looks_not_found(content):
        title = content.title if content else ""
        return Observation(Signal.SOFT404, f"page says not found: {title!r}", evidence)
    permanent = any(hop.status in (301, 308) for hop in result.redirects)
    if permanent and final != source_url and content is not None:
        return Observation(Signal.MOVED, f"moved permanently to {final}", evidence, new_url=final)
    return Observation(Signal.OK, f"{result.status} {result.reason}".strip(), evidence)


def redirect_dead_end(source_url: str, final_url: str) -> tuple[Signal, str] | None:
    """Whether a redirect from an article lands where sites send retired stories."""
    source, final = urlsplit(source_url), urlsplit(final_url)
    before = [p for p in source.path.split("/") if p]
    after = [p for p in final.path.split("/") if p]
    if any(_ERROR_SEGMENT.match(p) for p in after):
        return Signal.SOFT404, "an error page"
    if any("search" in p.lower() for p in after) or any(
            k.lower() in _SEARCH_KEYS for k, _ in parse_qsl(final.query)):
        return Signal.HOMEPAGE, "a search page"
    if not before or _is_front(before):
        return None  # the source itself is a front: fronts may move between fronts
    if not after:
        return Signal.HOMEPAGE, "the site front"
    if (len(after) < len(before) and before[: len(after)] == after) or _is_front(after):
        return Signal.HOMEPAGE, "a section front"
    return None


def _is_front(segments: list[str]) -> bool:
    """``/world``, ``/section/tech``, ``/news/uk``: shallow paths made of section words."""
    if not segments or len(segments) > 2:
        return not segments
    words = [p.lower().removesuffix(".html") for p in segments]
    if words[0] in _TAXONOMY:
        return True
    return all(w in _SECTION_WORDS for w in words)


def looks_like_bot_check(body: bytes, content: ArticleContent | None) -> bool:
    """A short 200 page whose title is a bot check or an access wall ("Just a moment...")."""
    if content is not None and len(content.text) >= 600:
        return False
    found = _TITLE.search(body[:16384])
    title = found.group(1).decode("utf-8", "replace") if found else ""
    return bool(_BOT_CHECK.search(title) or (content and _BOT_CHECK.search(content.title or "")))


def looks_not_found(content: ArticleContent | None) -> bool:
    """A "not found" title or a short page whose first line says so."""
    if content is None:
        return False
    if _NOT_FOUND.search(content.title or ""):
        return True
    first_line = content.text.strip().split("\n", 1)[0]
    return len(content.text) < 600 and bool(_NOT_FOUND.search(first_line))


def _observe_error(error: FetchError) -> Observation:
    evidence: dict[str, Any] = {
        "error_class": error.error_class, "error": error.message, "at": iso(error.fetched_at)}
    if error.redirects:
        evidence["redirects"] = [hop.url for hop in error.redirects]
    if error.error_class in HARD_UNREACHABLE:
        return Observation(Signal.UNREACHABLE, f"{error.error_class}: {error.message}", evidence)
    return Observation(Signal.TRANSIENT, f"{error.error_class}: {error.message}", evidence)


def is_network_failure(result: HttpExchange | FetchError | None) -> bool:
    """A failure below HTTP: what the offline guard counts."""
    return isinstance(result, FetchError) and result.error_class in NETWORK_ERRORS


def _evidence(result: HttpExchange) -> dict[str, Any]:
    evidence: dict[str, Any] = {"status": result.status, "at": iso(result.fetched_at)}
    if result.redirects:
        evidence["redirects"] = [f"{hop.status} {hop.url} -> {hop.location}" for hop in result.redirects]
        evidence["final_url"] = result.url
    return evidence


def _retry_after(value: str | None, now: datetime) -> int | None:
    """Retry-After in seconds: delta-seconds or an HTTP-date (RFC 9110, 10.2.3)."""
    value = (value or "").strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int((when - now).total_seconds()))
