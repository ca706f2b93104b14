"""The link-health state machine and the offline guard, with an injected clock (no sleeps)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from monitor.health import HealthState, Observation, PassGuard, Signal, judge
from monitor.settings import HealthSettings
from monitor.store.models import Source

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
POLICY = HealthSettings()  # 3 failures over >= 3 days; 410: 2 over >= 1 day


def _source(health: str = "alive") -> Source:
    return Source(id=1, url="https://news.example/a", created_at=T0, health=health)


def _obs(signal: Signal, reason: str = "x") -> Observation:
    return Observation(signal, reason, {"status": 404})


def _run(source: Source, signals: list[tuple[timedelta, Signal]]) -> list[str]:
    kinds = []
    for offset, signal in signals:
        transition = judge(source, _obs(signal), T0 + offset, POLICY)
        if transition:
            kinds.append(transition.kind)
    return kinds


def test_404_is_dead_only_after_three_failures_spanning_three_days() -> None:
    source = _source()
    day = timedelta(days=1)
    kinds = _run(source, [(0 * day, Signal.GONE), (1 * day, Signal.GONE), (2 * day, Signal.GONE)])
    assert kinds == ["failing"]  # three failures, but only two days apart
    assert source.health == HealthState.FAILING
    assert _run(source, [(3 * day, Signal.GONE)]) == ["dead"]
    assert source.evidence["consecutive_failures"] == 4
    assert _run(source, [(4 * day, Signal.GONE), (5 * day, Signal.GONE)]) == []  # no re-notify


def test_many_quick_failures_are_not_dead() -> None:
    source = _source()
    kinds = _run(source, [(timedelta(minutes=m), Signal.GONE) for m in range(0, 100, 10)])
    assert kinds == ["failing"]
    assert source.health == "failing"


def test_410_is_confirmed_faster() -> None:
    source = _source()
    kinds = _run(source, [(timedelta(0), Signal.GONE_410), (timedelta(days=1), Signal.GONE_410)])
    assert kinds == ["failing", "dead"]


def test_recovery_after_failing_or_dead_emits_recovered_once() -> None:
    source = _source()
    _run(source, [(timedelta(days=d), Signal.UNREACHABLE) for d in range(4)])
    assert source.health == "dead"
    assert _run(source, [(timedelta(days=5), Signal.OK)]) == ["recovered"]
    assert source.consecutive_failures == 0
    assert _run(source, [(timedelta(days=6), Signal.OK)]) == []
    assert source.health == "alive"


def test_a_success_between_failures_resets_the_count() -> None:
    source = _source()
    day = timedelta(days=1)
    kinds = _run(source, [(0 * day, Signal.GONE), (2 * day, Signal.OK), (4 * day, Signal.GONE),
                          (5 * day, Signal.GONE)])
    assert kinds == ["failing", "recovered", "failing"]
    assert source.health == "failing"


def test_walls_are_blocked_not_dead_and_transient_errors_are_not_judged() -> None:
    source = _source()
    kinds = _run(source, [(timedelta(days=d), Signal.BLOCKED) for d in range(5)])
    assert kinds == ["blocked"]
    assert _run(source, [(timedelta(days=6), Signal.TRANSIENT)] * 5) == []
    assert source.health == "blocked"


def test_new_source_becomes_alive_silently() -> None:
    source = _source("new")
    assert _run(source, [(timedelta(0), Signal.OK)]) == []
    assert source.health == "alive"


def _guard_verdict(reports: list[tuple[str, bool]], policy: HealthSettings = POLICY) -> bool:
    async def run() -> bool:
        guard = PassGuard(len(reports), policy)
        for host, failed in reports:
            guard.fetched(host, failed)
        return await guard.offline()

    return asyncio.run(run())


def test_offline_when_most_hosts_fail_below_http() -> None:
    assert _guard_verdict([(f"h{i}:443", True) for i in range(10)])
    assert _guard_verdict([("a:1", True), ("b:1", True), ("c:1", False)])


def test_not_offline_when_one_host_of_several_is_down() -> None:
    assert not _guard_verdict([("a:1", True), ("a:1", True), ("b:1", False), ("c:1", False)])


def test_too_few_hosts_cannot_vote() -> None:
    assert not _guard_verdict([("a:1", True), ("b:1", True)])


@pytest.mark.parametrize(("answers", "offline"), [(True, False), (False, True)])
def test_small_monitor_asks_the_canary(answers: bool, offline: bool) -> None:
    policy = HealthSettings(canary_urls=["http://canary.test/"])

    async def run() -> bool:
        async def probe() -> bool:
            return answers

        guard = PassGuard(1, policy, probe)
        guard.fetched("a:1", True)
        return await guard.offline()

    assert asyncio.run(run()) is offline
