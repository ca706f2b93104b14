"""RFC 6690 link-format, the body of a Memento TimeMap (RFC 7089, section 5).

Written by hand because no maintained library reads it: ``LinkHeader`` on PyPI was last
released in 2015 and ``memento_client`` in 2017 (on requests, synchronous), and pywb's
parser comes with pins that clash with ours. The grammar is small: a comma-separated
list of ``<URI>; name="value"; name=token`` entries. URIs may contain commas and
semicolons, so entries are read from ``<`` to ``>`` rather than split on commas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

_TARGET = re.compile(r"\s*<([^>]*)>")
_PARAM = re.compile(r'\s*;\s*([A-Za-z0-9_\-*]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,\s]+))?')
_SEPARATOR = re.compile(r"\s*(,|$)")


class LinkFormatError(ValueError):
    """The text is not link-format."""


@dataclass(frozen=True)
class Link:
    """One ``<uri>; params`` entry; parameter names are lower-case."""

    uri: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def rels(self) -> set[str]:
        """The relation types (``rel="first memento"`` is both ``first`` and ``memento``)."""
        return set(self.params.get("rel", "").lower().split())

    @property
    def at(self) -> datetime | None:
        """The ``datetime`` parameter (RFC 1123, as Memento writes it), or None."""
        value = self.params.get("datetime")
        if value is None:
            return None
        try:
            return parsedate_to_datetime(value).astimezone(UTC)
        except (TypeError, ValueError):
            return None


def parse_links(text: str) -> list[Link]:
    """Every link in ``text``; raises :class:`LinkFormatError` naming where it stops making sense."""
    links: list[Link] = []
    position = 0
    text = text.strip()
    while position < len(text):
        target = _TARGET.match(text, position)
        if target is None:
            raise LinkFormatError(f"expected <URI> at character {position}: {text[position:][:40]!r}")
        params, position = _params(text, target.end())
        links.append(Link(target.group(1).strip(), params))
        separator = _SEPARATOR.match(text, position)
        if separator is None:
            raise LinkFormatError(f"expected ',' at character {position}: {text[position:][:40]!r}")
        position = separator.end()
    return links


def _params(text: str, position: int) -> tuple[dict[str, str], int]:
    params: dict[str, str] = {}
    while (param := _PARAM.match(text, position)) is not None:
        value = param.group(2) or ""
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(param.group(1).lower(), value)
        position = param.end()
    return params, position


def format_link(uri: str, **params: str) -> str:
    """One entry, for writing TimeMaps: ``<uri>; rel="memento"; datetime="…"``."""
    quoted = "".join(f'; {name}="{value}"' for name, value in params.items())
    return f"<{uri}>{quoted}"


def http_date(when: datetime) -> str:
    """A Memento datetime: RFC 1123 in GMT."""
    return format_datetime(when.astimezone(UTC), usegmt=True)
