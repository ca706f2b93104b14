"""Robust Links (https://robustlinks.mementoweb.org/spec/): the citing document, with each
link to a watched source carrying ``data-originalurl``, ``data-versionurl`` (our copy's
URI-M) and ``data-versiondate`` (ISO 8601 date), so readers can reach the version cited.

HTML: only the start tags of those ``<a>`` elements change; every other byte stays.
The standard library's ``HTMLParser`` finds them, because it hands back each start
tag's exact source text and position (lxml rebuilds the whole document when it
writes, changing quoting, entities and whitespace everywhere).
Markdown: inline links ``[text](url)`` and autolinks ``<url>`` to watched sources
become inline ``<a href=… data-…>text</a>`` (CommonMark keeps the text's inline
markup); code blocks, code spans and everything else are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from html.parser import HTMLParser
from typing import Literal

from markdown_it import MarkdownIt
from sqlmodel import Session

from monitor.archive.memento import Memento, mementos, sources_by_url
from monitor.store.models import Source
from monitor.urls import BadURL, canonicalize

AtChoice = Literal["cited", "latest"]
ROBUST = ("data-originalurl", "data-versionurl", "data-versiondate")
_CODE_BLOCKS = ("fence", "code_block", "html_block")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_MD_LINK = re.compile(
    r"(?<![!\\])\[(?P<text>(?:[^\[\]\\]|\\.|\[[^\[\]]*\])*)\]"
    r"\(\s*(?P<url><[^<>\n]*>|[^\s()<>]+(?:\([^\s()]*\)[^\s()<>]*)*)"
    r"(?:\s+(?P<title>\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
)
_AUTOLINK = re.compile(r"(?<!\\)<(?P<url>https?://[^\s<>]+)>", re.IGNORECASE)


@dataclass(frozen=True)
class Version:
    """What a robust link carries."""

    original: str
    url: str
    date: str

    def attributes(self) -> str:
        values = (self.original, self.url, self.date)
        return " ".join(f'{name}="{escape(value)}"' for name, value in zip(ROBUST, values, strict=True))


@dataclass
class Tally:
    """How the document's web links fared."""

    links: int = 0
    annotated: int = 0
    not_watched: int = 0
    no_copy: int = 0

    def summary(self) -> str:
        return (f"annotated {self.annotated} of {self.links} links ({self.not_watched} not watched, "
                f"{self.no_copy} with no archived copy)")


@dataclass
class VersionFinder:
    """Answers "which copy should this link point to?" for every link of a document."""

    db: Session
    replay_url: str
    at: AtChoice = "cited"
    tally: Tally = field(default_factory=Tally)
    _sources: dict[str, Source] | None = None
    _chosen: dict[int, Version | None] = field(default_factory=dict)

    def __call__(self, href: str) -> Version | None:
        """The robust-link attributes for ``href``, counting it; None leaves the link alone."""
        try:
            canonical = canonicalize(href)
        except BadURL:
            return None  # not a web link (relative, mailto:, #anchor): not counted
        self.tally.links += 1
        if self._sources is None:
            self._sources = sources_by_url(self.db)
        source = self._sources.get(canonical)
        if source is None or source.id is None:
            self.tally.not_watched += 1
            return None
        if source.id not in self._chosen:
            self._chosen[source.id] = self._version(source)
        chosen = self._chosen[source.id]
        if chosen is None:
            self.tally.no_copy += 1
        else:
            self.tally.annotated += 1
        return chosen

    def _version(self, source: Source) -> Version | None:
        copies = mementos(self.db, source, self.replay_url, article_only=True)
        if not copies:
            return None
        cited = source.cited_at if self.at == "cited" else None
        chosen = nearest(copies, cited) if cited is not None else copies[-1]
        return Version(source.url, chosen.uri, (cited or chosen.at).date().isoformat())


def nearest(copies: list[Memento], when: datetime) -> Memento:
    """The copy closest in time to ``when``; the earlier one on a tie."""
    return min(copies, key=lambda m: (abs((m.at - when).total_seconds()), m.at))


def annotate(text: str, kind: str, find: Callable[[str], Version | None]) -> str:
    """``text`` (``kind`` "html" or "markdown") with robust links where ``find`` has a copy."""
    return annotate_html(text, find) if kind == "html" else annotate_markdown(text, find)


class _Anchors(HTMLParser):
    """Collects every ``<a>`` start tag: position, exact source text, parsed attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[tuple[int, int], str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.found.append((self.getpos(), self.get_starttag_text() or "", attrs))


def annotate_html(text: str, find: Callable[[str], Version | None]) -> str:
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
    edits: list[tuple[int, int, str]] = []
    for (line, column), raw, attrs in parser.found:
        start = line_starts[line - 1] + column
        href = dict(attrs).get("href")
        if not raw or text[start:start + len(raw)] != raw or not href:
            continue  # cannot place this tag exactly: leave it untouched
        version = find(href.strip())
        if version is not None:
            edits.append((start, start + len(raw), _retag(raw, attrs, version)))
    return _apply(text, edits)


def _retag(raw: str, attrs: list[tuple[str, str | None]], version: Version) -> str:
    """The start tag with the robust-link attributes: appended before its ``>``, or the tag
    rebuilt from its attributes when it already carried (stale) ones."""
    if any(name in ROBUST for name, _ in attrs):
        kept = "".join(f" {n}" if v is None else f' {n}="{escape(v)}"' for n, v in attrs if n not in ROBUST)
        return f"<a{kept} {version.attributes()}>"
    cut = len(raw) - (2 if raw.endswith("/>") else 1)
    space = "" if raw[cut - 1].isspace() else " "
    return f"{raw[:cut]}{space}{version.attributes()}{raw[cut:]}"


def annotate_markdown(text: str, find: Callable[[str], Version | None]) -> str:
    masked = _mask_code(text)
    edits: list[tuple[int, int, str]] = []
    links = list(_MD_LINK.finditer(masked))
    for match in links:
        url = match.group("url").strip("<>")
        version = find(url)
        if version is not None:
            title = match.group("title")
            title_attr = f' title="{escape(title[1:-1])}"' if title else ""
            inner = text[match.start("text"):match.end("text")]
            tag = f'<a href="{escape(url)}"{title_attr} {version.attributes()}>{inner}</a>'
            edits.append((match.start(), match.end(), tag))
    for match in _AUTOLINK.finditer(masked):
        if any(link.start() <= match.start() < link.end() for link in links):
            continue  # the <url> destination of an inline link, already seen
        url = match.group("url")
        version = find(url)
        if version is not None:
            edits.append((match.start(), match.end(),
                          f'<a href="{escape(url)}" {version.attributes()}>{escape(url)}</a>'))
    return _apply(text, edits)


def _mask_code(text: str) -> str:
    """``text`` with code blocks, raw HTML blocks and code spans blanked out (same length,
    newlines kept), so links are searched for only where Markdown reads them as links."""
    lines = text.splitlines(keepends=True)
    for token in MarkdownIt("commonmark").parse(text):
        if token.type in _CODE_BLOCKS and token.map:
            for number in range(*token.map):
                lines[number] = _blank(lines[number])
    masked = "".join(lines)
    return _CODE_SPAN.sub(lambda m: _blank(m.group(0)), masked)


def _blank(part: str) -> str:
    return re.sub(r"[^\n]", " ", part)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace the ``(start, end)`` spans of ``text`` (non-overlapping) with their new text."""
    out: list[str] = []
    position = 0
    for start, end, new in sorted(edits):
        if start < position:
            continue
        out.append(text[position:start])
        out.append(new)
        position = end
    out.append(text[position:])
    return "".join(out)

