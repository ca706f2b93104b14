"""The link-health state machine: where a source is judged dead (or failing, blocked,
moved, recovered). Every transition yields exactly one event; repeats yield none.

States: ``new`` → ``alive`` | ``failing`` → ``dead``; ``blocked``; ``moved``;
``recovered`` (the first healthy check after failing/dead/blocked, then ``alive``).
Dead needs ``dead_after`` failed checks spanning at least ``dead_min_span``
(InternetArchiveBot's rule); 410 Gone uses the faster ``gone_after``/``gone_min_span``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from monitor.clock import iso
from monitor.health.signals import DEATH, HEALTHY, Observation, Signal
from monitor.settings import HealthSettings
from monitor.store.models import Source


class HealthState(StrEnum):
    NEW = "new"
    ALIVE = "alive"
    FAILING = "failing"
    DEAD = "dead"
    BLOCKED = "blocked"
    MOVED = "moved"
    RECOVERED = "recovered"


TROUBLED = frozenset({HealthState.FAILING, HealthState.DEAD, HealthState.BLOCKED})


@dataclass(frozen=True)
class Transition:
    """A change of state and the event it emits."""

    before: HealthState
    after: HealthState
    kind: str  # the event kind
    severity: str
    summary: str
    evidence: dict[str, Any]


def judge(
    source: Source, observation: Observation, now: datetime, policy: HealthSettings
) -> Transition | None:
    """Update ``source``'s health from one observation; return the transition, if any."""
    signal = observation.signal
    if signal in DEATH:
        source.consecutive_failures += 1
        source.first_failure_at = source.first_failure_at or now
        source.last_failure_at = now
    source.evidence = _evidence(source, observation)
    if signal in HEALTHY:
        return _healthy(source, observation, now)
    if signal in DEATH:
        return _failed(source, observation, now, policy)
    if signal is Signal.BLOCKED:
        _reset_failures(source)
        return _enter(source, HealthState.BLOCKED, now, "blocked", "minor",
                      f"blocked: {observation.reason}")
    return None  # TRANSIENT: recorded as evidence, never judged


def _healthy(source: Source, observation: Observation, now: datetime) -> Transition | None:
    before = HealthState(source.health)
    _reset_failures(source)
    if observation.signal is Signal.MOVED:
        return _enter(source, HealthState.MOVED, now, "moved", "major",
                      f"moved to {observation.new_url}")
    if before in TROUBLED:
        return _enter(source, HealthState.RECOVERED, now, "recovered", "major",
                      f"answers with its article again (was {before.value})")
    if before is not HealthState.ALIVE:
        source.health, source.health_since = HealthState.ALIVE.value, now
    return None


def _failed(
    source: Source, observation: Observation, now: datetime, policy: HealthSettings
) -> Transition | None:
    state = HealthState(source.health)
    if state is HealthState.DEAD:
        return None
    needed, span = _confirmation(observation, policy)
    spanned = now - (source.first_failure_at or now)
    if source.consecutive_failures >= needed and spanned >= span:
        return _enter(source, HealthState.DEAD, now, "dead", "critical",
                      f"dead: {observation.reason} ({source.consecutive_failures} failed checks "
                      f"since {iso(source.first_failure_at)})")
    if state is HealthState.FAILING:
        return None
    return _enter(source, HealthState.FAILING, now, "failing", "minor",
                  f"failing: {observation.reason} (check {source.consecutive_failures} of {needed})")


def _confirmation(observation: Observation, policy: HealthSettings) -> tuple[int, timedelta]:
    if observation.signal is Signal.GONE_410:
        return policy.gone_after, policy.gone_min_span
    return policy.dead_after, policy.dead_min_span


def _enter(
    source: Source,
    state: HealthState,
    now: datetime,
    kind: str,
    severity: str,
    summary: str,
) -> Transition | None:
    before = HealthState(source.health)
    if before is state:
        return None
    source.health, source.health_since = state.value, now
    return Transition(before, state, kind, severity, summary, dict(source.evidence))


def _reset_failures(source: Source) -> None:
    source.consecutive_failures = 0
    source.first_failure_at = None
    source.last_failure_at = None


def _evidence(source: Source, observation: Observation) -> dict[str, Any]:
    """What the state rests on, shown by ``monitor status SOURCE`` and in event details."""
    evidence: dict[str, Any] = {
        "signal": observation.signal.value,
        "reason": observation.reason,
        **observation.evidence,
    }
    if source.consecutive_failures:
        evidence["consecutive_failures"] = source.consecutive_failures
        evidence["first_failure_at"] = iso(source.first_failure_at)
    if observation.new_url:
        evidence["new_url"] = observation.new_url
    return evidence
