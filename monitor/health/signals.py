"""What one fetch says about a link: the observation the health state machine judges.

This is where a single response is read as evidence: a 404, a refused connection,
a bot wall, a redirect to the homepage, a "page not found" served with 200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monitor.clock import iso
from monitor.compare import ArticleContent
from monitor.exchange import FetchError, HttpExchange
from monitor.fetch import NETWORK_ERRORS
from monitor.urls import BadURL, canonicalize, is_site_front


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
    SOFT404 = "soft404"  # 200 page that says "not found"


HEALTHY = frozenset({Signal.OK, Signal.NOT_MODIFIED, Signal.MOVED})
DEATH = frozenset(
    {Signal.GONE, Signal.GONE_410, Signal.UNREACHABLE, Signal.HOMEPAGE, Signal.SOFT404}
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
    if status == 429 or status >= 500:
        retry = _retry_after(result.header("retry-after"))
        return Observation(Signal.TRANSIENT, f"{status} {result.reason}".strip(), evidence, None, retry)
    if 400 <= status < 500:
        return Observation(Signal.GONE, f"{status} {result.reason}".strip(), evidence)
    return _observe_page(result, source_url, content, evidence)


def _observe_page(
    result: HttpExchange, source_url: str, content: ArticleContent | None, evidence: dict[str, Any]
) -> Observation:
    final = _canonical(result.url)
    if result.redirects and is_site_front(final) and not is_site_front(source_url):
        return Observation(Signal.HOMEPAGE, f"redirected to the site front {final}", evidence)
    if looks_not_found(content):
        title = content.title if content else ""
        return Observation(Signal.SOFT404, f"page says not found: {title!r}", evidence)
    permanent = any(hop.status in (301, 308) for hop in result.redirects)
    if permanent and final != source_url and content is not None:
        return Observation(Signal.MOVED, f"moved permanently to {final}", evidence, new_url=final)
    return Observation(Signal.OK, f"{result.status} {result.reason}".strip(), evidence)


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


def _retry_after(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return int(value.strip())
    return None


def _canonical(url: str) -> str:
    try:
        return canonicalize(url)
    except BadURL:
        return url
