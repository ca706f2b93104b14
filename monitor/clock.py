"""Time, injected: the pipeline asks a Clock, so tests can move "three days later" without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, simulations, benchmarks)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = as_utc(when)


def as_utc(when: datetime) -> datetime:
    """A time without zone is UTC (DESIGN.md, "Times")."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (``2025-01-14``, ``2025-01-14T12:00``, ``…Z``) as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from None


def iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second."""
    if when is None:
        return None
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_until(text: str) -> datetime:
    """``--at T``: the end of the precision given, so that a capture made during the day,
    minute or second named is "at or before T" (``2025-01-14`` means up to 23:59:59.999999)."""
    start = parse_time(text)
    value = text.strip().upper().removesuffix("Z")
    if "T" not in value and " " not in value:
        return start + timedelta(days=1, microseconds=-1)
    clock_part = value.replace(" ", "T").split("T", 1)[1]
    clock_part = clock_part.split("+")[0].split("-")[0]
    if "." in clock_part:
        return start
    step = timedelta(minutes=1) if clock_part.count(":") == 1 else timedelta(seconds=1)
    if clock_part.count(":") == 0:
        step = timedelta(hours=1)
    return start + step - timedelta(microseconds=1)
