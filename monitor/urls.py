"""Canonical URLs, hosts, and the links inside a citing document.

Written by hand rather than with ``courlan.normalize_url``: courlan sorts query
parameters and, in strict mode, drops every parameter it does not know, while
DESIGN.md ("Canonical URLs") asks us to drop only tracking parameters and keep
the rest as is, in order. ``courlan.is_external``-style helpers are not needed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lxml import html as lxml_html

TRACKING_PREFIXES = ("utm_", "mtm_", "pk_")
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
     "mc_cid", "mc_eid", "_ga", "_gl", "ocid", "cmpid", "smid", "smtyp", "ref_src", "spm"}
)
DEFAULT_PORTS = {"http": 80, "https": 443}


class BadURL(ValueError):
    """A string that is not an http(s) URL we can watch."""


def canonicalize(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"not a valid URL: {url!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BadURL(f"not an http(s) URL: {url!r}")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username or parts.password:
        host = f"{parts.username or ''}{':' + parts.password if parts.password else ''}@{host}"
    query = _drop_tracking(parts.query)
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def canonical_or_raw(url: str) -> str:
    """The canonical form, or ``url`` itself when it cannot be parsed (a server's odd Location)."""
    try:
        return canonicalize(url)
    except BadURL:
        return url


def _drop_tracking(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_tracking(k)]
    if len(kept) == len(pairs):
        return query  # untouched, byte for byte
    return urlencode(kept, doseq=True)


def _is_tracking(key: str) -> bool:
    lowered = key.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


@functools.lru_cache(maxsize=1 << 16)  # a pass asks for each source's host several times
def host_of(url: str) -> str:
    """The URL's authority (host and port): what politeness and the offline guard count."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return f"{host}:{port}"


@dataclass(frozen=True)
class Link:
    url: str
    title: str | None = None


_URL_RE = re.compile(r"https?://[^\s<>\"'`|\]\[]+", re.IGNORECASE)
_MD_LINK_RE = re.compile(r"\[([^\]]*)\]\(\s*<?(https?://[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_TRAILING = ".,;:!?'\")]}*_>"


def links_in(text: str, *, kind: str | None = None) -> list[Link]:
    """Links in a citing document (Markdown, HTML, plain text or a URL list), canonical, deduplicated.

    ``kind`` is "html", "markdown" or "text"; guessed from the content when None.
    Links that are not http(s) or not parseable are skipped.
    """
    kind = kind or guess_kind(text)
    found = _html_links(text) if kind == "html" else _text_links(text)
    seen: dict[str, Link] = {}
    for link in found:
        try:
            url = canonicalize(link.url)
        except BadURL:
            continue
        if url not in seen or (seen[url].title is None and link.title):
            seen[url] = Link(url, link.title)
    return list(seen.values())


def guess_kind(text: str) -> str:
    """"html" or "markdown": what a citing document without a telling file name looks like."""
    head = text[:2000].lower()
    if "<html" in head or "<a " in text.lower() or "<!doctype" in head:
        return "html"
    return "markdown"


def _html_links(text: str) -> list[Link]:
    if not text.strip():
        return []
    tree = lxml_html.fromstring(text)
    links = []
    for anchor in tree.iterfind(".//a[@href]"):
        title = " ".join(anchor.text_content().split()) or None
        links.append(Link(anchor.get("href", ""), title))
    return links


def _text_links(text: str) -> list[Link]:
    links = [Link(url, title.strip() or None) for title, url in _MD_LINK_RE.findall(text)]
    rest = _MD_LINK_RE.sub(" ", text)
    for match in _URL_RE.finditer(rest):
        links.append(Link(_trim(match.group(0))))
    return links


def _trim(url: str) -> str:
    """Drop punctuation that ends a sentence rather than the URL (keeps balanced parentheses)."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url
