"""The offline guard: when the monitor itself has lost the network, judge nobody.

A pass reports every fetch here. When at least ``offline_min_hosts`` hosts were
tried and more than ``offline_ratio`` of them failed below HTTP (DNS, refused,
timeout …), the pass is offline: those failures are recorded but not judged.
With fewer hosts the guard cannot vote; it asks the configured canary URLs, and
without canaries leaves it to the confirmation window (DESIGN.md, "Host").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from monitor.settings import HealthSettings

Probe = Callable[[], Awaitable[bool]]  # True when the network answers


class PassGuard:
    def __init__(self, expected: int, policy: HealthSettings, probe: Probe | None = None) -> None:
        self._pending = expected
        self._policy = policy
        self._probe = probe
        self._hosts: dict[str, bool] = {}  # host -> every fetch failed at network level
        self._all_fetched = asyncio.Event()
        self._verdict: bool | None = None
        self._lock = asyncio.Lock()
        if expected <= 0:
            self._all_fetched.set()

    def fetched(self, host: str, network_failure: bool) -> None:
        """Report one fetch of the pass (call exactly once per source, even on error)."""
        self._hosts[host] = self._hosts.get(host, True) and network_failure
        self._count()

    def skipped(self) -> None:
        """Report a source of the pass that was not fetched (its host is backing off)."""
        self._count()

    def _count(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._all_fetched.set()

    async def offline(self) -> bool:
        """Whether this pass is offline; waits until every fetch of the pass has reported."""
        await self._all_fetched.wait()
        async with self._lock:
            if self._verdict is None:
                self._verdict = await self._decide()
        return self._verdict

    @property
    def decided_offline(self) -> bool:
        return bool(self._verdict)

    @property
    def hosts(self) -> tuple[int, int]:
        """(hosts tried, hosts failing at network level)."""
        return len(self._hosts), sum(self._hosts.values())

    async def _decide(self) -> bool:
        tried, failing = self.hosts
        if tried >= self._policy.offline_min_hosts:
            return failing / tried > self._policy.offline_ratio
        if self._probe is not None and self._policy.canary_urls:
            return not await self._probe()
        return False
