"""What a notification says: a title like "3 sources changed" and a Markdown body with one
line per event (the source's title or URL, the event's summary, the dashboard link).

Rendered when a message is queued and again when it goes out, so that a line whose event was
acknowledged or muted in between is left out of a retry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from monitor.store.models import Event, Source

MAX_LINES = 50  # a longer message is cut: chat services truncate or reject huge ones

# (singular, plural) of what happened, after "1 source …" / "3 sources …"
_VERBS: dict[str, tuple[str, str]] = {
    "changed": ("changed", "changed"),
    "dead": ("is dead", "are dead"),
    "failing": ("is failing", "are failing"),
    "recovered": ("recovered", "recovered"),
    "blocked": ("is blocked", "are blocked"),
    "moved": ("moved", "moved"),
    "archived": ("archived", "archived"),
    "flipflop": ("flip-flopped", "flip-flopped"),
    "extraction_failed": ("could not be read", "could not be read"),
}
_PASS_TITLES = {"offline": "the monitor is offline", "online": "the monitor is online again"}
# Apprise's message types: services show them as colours or icons
_TYPES = {"dead": "failure", "failing": "warning", "blocked": "warning", "moved": "warning",
          "offline": "warning", "extraction_failed": "warning", "recovered": "success",
          "online": "success"}
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>])")


def title_for(kind: str, count: int) -> str:
    """"3 sources changed", "1 source is dead", "the monitor is offline"."""
    if kind in _PASS_TITLES:
        return _PASS_TITLES[kind]
    singular, plural = _VERBS.get(kind, (kind, kind))
    return f"1 source {singular}" if count == 1 else f"{count} sources {plural}"


def notify_type(kind: str) -> str:
    return _TYPES.get(kind, "info")


def render(kind: str, events: Sequence[Event], sources: Mapping[int, Source],
           dashboard_url: str | None) -> tuple[str, str]:
    """The title and Markdown body of the message for ``events`` (all of ``kind``)."""
    lines = [_line(event, sources.get(event.source_id or 0), dashboard_url)
             for event in events[:MAX_LINES]]
    if len(events) > MAX_LINES:
        lines.append(f"- … and {len(events) - MAX_LINES} more: `monitor events --kind {kind}`")
    counted = len({event.source_id for event in events}) if kind not in _PASS_TITLES else len(events)
    return title_for(kind, counted), "\n".join(lines)


def _line(event: Event, source: Source | None, dashboard_url: str | None) -> str:
    summary = escape(event.summary)
    if event.source_id is None:
        return f"- {summary}"
    url = source.url if source is not None else event.url or ""
    name = f"**{escape(source.title)}**" if source is not None and source.title else f"<{url}>"
    link = f" — <{dashboard_url}/sources/{event.source_id}>" if dashboard_url else ""
    return f"- {name}: {summary}{link}"


def escape(text: str) -> str:
    """Text shown as itself in Markdown: backslash before the characters that would format.

    By hand: markdown-it-py renders Markdown but has no function for the reverse.
    """
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.split()))
