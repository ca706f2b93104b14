"""Events: one table, one JSON shape (a public interface: see README, "Events as JSON").

Kinds: ``archived`` (first version stored), ``changed``, ``flipflop``,
``extraction_failed``, ``failing``, ``dead``, ``recovered``, ``blocked``, ``moved``,
``offline`` and ``online`` (pass-level). ``flipflop`` and ``extraction_failed`` are recorded but are
not alerts.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from monitor.clock import iso
from monitor.store.models import Event, Source

SEVERITIES = ("info", "minor", "major", "critical")
NOT_ALERTS = frozenset({"flipflop", "extraction_failed", "archived"})
KINDS = ("archived", "changed", "flipflop", "extraction_failed", "failing", "dead", "recovered",
         "blocked", "moved", "offline", "online")


def event_id(at: datetime) -> str:
    """Unique across processes and machines, and sorting by time: 48-bit ms + 80 random bits."""
    return f"{int(at.timestamp() * 1000):012x}{secrets.token_hex(10)}"


def new_event(
    kind: str,
    at: datetime,
    summary: str,
    *,
    severity: str = "info",
    source: Source | None = None,
    details: dict[str, Any] | None = None,
    version_before: int | None = None,
    version_after: int | None = None,
) -> Event:
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    return Event(
        id=event_id(at),
        at=at,
        kind=kind,
        severity=severity,
        source_id=source.id if source else None,
        url=source.url if source else None,
        summary=summary,
        details=details or {},
        version_before=version_before,
        version_after=version_after,
    )


def is_muted(source: Source | None, kind: str, at: datetime) -> bool:
    """Whether the user muted ``kind`` events of ``source`` for the time ``at``."""
    if source is None or not source.muted_kinds:
        return False
    if "*" not in source.muted_kinds and kind not in source.muted_kinds:
        return False
    return source.muted_until is None or at < source.muted_until


def event_json(event: Event) -> dict[str, Any]:
    """The stable JSON shape of an event."""
    details = dict(event.details)
    if event.version_before is not None:
        details.setdefault("version_before", event.version_before)
    if event.version_after is not None:
        details.setdefault("version_after", event.version_after)
    return {
        "id": event.id,
        "at": iso(event.at),
        "kind": event.kind,
        "severity": event.severity,
        "source_id": event.source_id,
        "url": event.url,
        "summary": event.summary,
        "details": details,
    }
