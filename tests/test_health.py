"""The link-health state machine and the offline guard, with an injected clock (no sleeps)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.compare import ArticleContent
from monitor.health import HealthState, Observation, PassGuard, Signal, judge
from monitor.health.drift import drift, slug_words
from monitor.health.probe import HostProbe, sibling_url
from monitor.health.signals import _retry_after, redirect_dead_end
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


# ----------------------------------------------------------- where redirects land

@pytest.mark.parametrize(("source", "final", "expected"), [
    ("https://n.example/world/2025/jan/14/rednote", "https://n.example/", "homepage"),
    ("https://n.example/article/rednote", "https://n.example/article", "homepage"),
    ("https://n.example/article/rednote", "https://n.example/section/tech", "homepage"),
    ("https://n.example/2025/01/14/rednote/", "https://n.example/world", "homepage"),
    ("https://n.example/article/rednote", "https://n.example/search?q=rednote", "homepage"),
    ("https://n.example/article/rednote", "https://n.example/page-not-found", "soft404"),
    ("https://n.example/article/rednote", "https://n.example/errors/404.html", "soft404"),
    ("https://n.example/article/rednote", "https://n.example/article/rednote-explained", None),
    ("https://n.example/story/123", "https://other.example/2025/01/14/rednote", None),
    ("https://n.example/news", "https://n.example/world", None),  # a front moving between fronts
])
def test_redirects_to_dead_ends(source: str, final: str, expected: str | None) -> None:
    found = redirect_dead_end(source, final)
    assert (found[0].value if found else None) == expected


# ------------------------------------------------------------------- content drift

STORY = ArticleContent(
    title="What is RedNote, the Chinese app Americans are flocking to?",
    text=("RedNote, known in China as Xiaohongshu, had 300 million monthly users before the influx. "
          "More than 700,000 new users joined in two days as Americans looked for an alternative. "
          "Analysts said the migration was unlikely to last if the ban on TikTok was delayed. "
          "The company did not respond to a request for comment on Tuesday evening."),
)
OTHER = ArticleContent(
    title="Storm brings record snowfall to the northern plains",
    text=("A powerful winter storm dumped more than two feet of snow across the northern plains. "
          "Highways were closed in three states and thousands of homes lost power overnight. "
          "Forecasters warned that temperatures would fall well below zero by the weekend. "
          "Schools announced closures as road crews worked through the night to clear drifts."),
)
URL = "https://n.example/article/rednote-chinese-app"


def test_another_article_at_the_same_url_is_drift() -> None:
    reason = drift(STORY, OTHER, URL, 0.25)
    assert reason is not None and "Storm brings record snowfall" in reason


def test_an_edited_or_rewritten_story_is_not_drift() -> None:
    edited = ArticleContent(STORY.title, STORY.text.replace("300 million", "350 million"))
    assert drift(STORY, edited, URL, 0.25) is None
    rewritten = ArticleContent("What is RedNote? The Chinese app Americans are flocking to", OTHER.text)
    assert drift(STORY, rewritten, URL, 0.25) is None  # same headline: a rewrite, not another story
    live = ArticleContent("RedNote chinese app: live updates", OTHER.text)
    assert drift(STORY, live, URL, 0.25) is None  # the new headline is what the slug says


def test_a_stub_is_not_drift_but_an_extraction_matter() -> None:
    assert drift(STORY, ArticleContent("Subscribe", "Sign in to continue reading."), URL, 0.25) is None


def test_slug_words() -> None:
    assert slug_words("https://n.example/2025/01/14/rednote-chinese-app.html") == {
        "rednote", "chinese", "app"}
    assert slug_words("https://n.example/") == set()


# ------------------------------------------------------------- the Bar-Yossef probe

def test_probe_url_is_a_random_sibling() -> None:
    rng = random.Random(7)
    sibling = sibling_url("https://n.example/world/2025/rednote.html?x=1", rng)
    assert sibling.startswith("https://n.example/world/2025/") and sibling.endswith(".html")
    assert "rednote" not in sibling and "?" not in sibling
    assert sibling_url("https://n.example/", rng).count("/") == 3


def test_probe_match() -> None:
    dead_end = ArticleContent("Oops | Gazette", "Hmm, nothing to read here. Try our latest stories.")
    soft = HostProbe("soft", "https://n.example/article/zzz", T0, 200, "https://n.example/article/zzz",
                     dead_end.title, dead_end.text)
    assert soft.matches("https://n.example/article/rednote", dead_end) is not None
    assert soft.matches("https://n.example/article/rednote", STORY) is None
    moved = HostProbe("redirect", "https://n.example/article/zzz", T0, 200, "https://n.example/",
                      "Gazette", "Front page")
    assert moved.matches("https://n.example/?from=article", STORY) is not None
    honest = HostProbe("honest", "https://n.example/article/zzz", T0, 404)
    assert honest.matches("https://n.example/article/rednote", dead_end) is None


def test_retry_after_seconds_or_http_date() -> None:
    assert _retry_after("120", T0) == 120
    assert _retry_after("Wed, 15 Jan 2025 12:10:00 GMT", T0) == 600
    assert _retry_after("soon", T0) is None
