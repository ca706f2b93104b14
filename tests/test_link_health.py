"""Link health against the imitation news site, one row of the policy per test.

Every death takes the default policy (3 failed checks spanning >= 3 days) on a manual
clock that moves a day per pass; nothing sleeps. See README, "When is a link dead?".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from monitor.clock import ManualClock
from monitor.home import Home
from monitor.store import Host, session
from monitor.urls import host_of
from tests.conftest import PARAGRAPHS, add_sources, events_of, one_pass, publish, run_cli, source_row
from tests.site import NewsSite

DAY = timedelta(days=1)
OTHER_STORY = [
    "A powerful winter storm dumped more than two feet of snow across the northern plains on Monday.",
    "Highways were closed in three states and thousands of homes lost power overnight, officials said.",
    "Forecasters warned that temperatures would fall well below zero by the weekend across the region.",
    "Schools announced closures as road crews worked through the night to clear the deepest drifts.",
]


@pytest.fixture
def wide_site() -> Iterator[NewsSite]:
    """Plain outlets, a host that answers 200 for any path, one reached by name, one over TLS."""
    with NewsSite(outlets=["apnews", "cnn", "reuters", "gazette", "dnsnews", "securepost"],
                  static_outlets=["reuters"], soft404_outlets=["gazette"],
                  named_outlets=["dnsnews"], tls_outlets=["securepost"]) as news:
        yield news


def _kinds(home: Home, source_id: int) -> list[str]:
    return [e.kind for e in events_of(home) if e.source_id == source_id]


def _days(home: Home, clock: ManualClock, ids: list[int], count: int,
          transport: httpx.AsyncBaseTransport | None = None) -> None:
    for _ in range(count):
        one_pass(home, clock, ids, advance=DAY, transport=transport)


def test_generic_dead_end_on_a_host_that_answers_every_path_is_caught_by_the_probe(
    wide_site: NewsSite, home: Home, clock: ManualClock
) -> None:
    retired = publish(wide_site, "gazette", "retired-story")
    kept = publish(wide_site, "gazette", "kept-story")
    ids = add_sources(home, clock, retired, kept)
    _days(home, clock, ids, 1)
    with session(home.engine) as db:
        host = db.get(Host, host_of(retired))
        assert host is not None and host.probe["verdict"] == "soft"
    wide_site.soft404(retired, generic=True)
    _days(home, clock, ids, 4)
    assert _kinds(home, ids[0]) == ["archived", "failing", "dead"]
    assert _kinds(home, ids[1]) == ["archived"]  # a real article on the same host is left alone
    evidence = source_row(home, ids[0]).evidence
    assert evidence["signal"] == "soft404" and "random path" in evidence["reason"]
    robots = wide_site.base_url("gazette") + "/robots.txt"
    assert wide_site.hits(robots) == 1  # one probe per host, cached across passes


def test_an_honest_host_is_probed_once_and_its_pages_are_trusted(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    urls = [publish(site, "apnews", f"story-{n}") for n in range(3)]
    ids = add_sources(home, clock, *urls)
    _days(home, clock, ids, 2)
    with session(home.engine) as db:
        host = db.get(Host, host_of(urls[0]))
        assert host is not None and host.probe["verdict"] == "honest"
        assert host.probe["status"] == 404
    assert site.hits(site.base_url("apnews") + "/robots.txt") == 1
    assert all(_kinds(home, i) == ["archived"] for i in ids)


def test_another_article_at_the_url_is_drift_then_dead_and_its_return_recovers(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    url = publish(site, "cnn", "rednote-app")
    [sid] = add_sources(home, clock, url)
    _days(home, clock, [sid], 1)
    site.replace(url, "Storm brings record snowfall to the plains", OTHER_STORY)
    _days(home, clock, [sid], 4)
    assert _kinds(home, sid) == ["archived", "failing", "dead"]
    dead = events_of(home, "dead")[0]
    assert "Storm brings record snowfall" in dead.summary
    assert dead.details["evidence"]["signal"] == "drift"
    assert source_row(home, sid).version_count == 1  # the other story is not a version of ours
    site.restore(url)
    _days(home, clock, [sid], 1)
    assert _kinds(home, sid)[-1] == "recovered"


def test_a_permanent_redirect_to_another_story_is_drift_not_a_move(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    url = publish(site, "apnews", "rednote-app")
    other = site.add_article("apnews", "snowstorm", headline="Storm brings record snowfall",
                             paragraphs=OTHER_STORY)
    [sid] = add_sources(home, clock, url)
    _days(home, clock, [sid], 1)
    site.redirect(url, other, code=301)
    _days(home, clock, [sid], 1)
    assert _kinds(home, sid) == ["archived", "failing"]
    assert source_row(home, sid).url == url  # not followed


@pytest.mark.parametrize(("control", "words"), [
    ("redirect_section", "section front"),
    ("redirect_search", "search page"),
    ("redirect_to_404_page", "error page"),
])
def test_redirects_to_where_sites_send_retired_stories_are_deaths(
    site: NewsSite, home: Home, clock: ManualClock, control: str, words: str
) -> None:
    url = publish(site, "apnews", "retired-story")
    [sid] = add_sources(home, clock, url)
    _days(home, clock, [sid], 1)
    getattr(site, control)(url)
    _days(home, clock, [sid], 4)
    assert _kinds(home, sid) == ["archived", "failing", "dead"]
    assert words in events_of(home, "failing")[0].summary


def _one_among_neighbours(site: NewsSite, home: Home, clock: ManualClock, outlet: str) -> list[int]:
    """A story on ``outlet`` (first id) and on three healthy hosts, so the offline guard can vote."""
    urls = [publish(site, o, "story") for o in (outlet, "apnews", "cnn", "reuters")]
    return add_sources(home, clock, *urls)


def _break(site: NewsSite, outlet: str, error_class: str, broken: bool = True) -> None:
    if error_class == "dns":
        site.dns_fail(outlet, broken)
    else:
        site.tls_break(outlet, broken)


@pytest.mark.parametrize(("outlet", "error_class"), [("dnsnews", "dns"), ("securepost", "tls")])
def test_a_name_that_stops_resolving_or_a_certificate_that_breaks_is_dead_when_it_persists(
    wide_site: NewsSite, home: Home, clock: ManualClock, outlet: str, error_class: str
) -> None:
    ids = _one_among_neighbours(wide_site, home, clock, outlet)
    transport = wide_site.transport()
    _days(home, clock, ids, 1, transport)
    _break(wide_site, outlet, error_class)
    _days(home, clock, ids, 4, transport)
    assert _kinds(home, ids[0]) == ["archived", "failing", "dead"]
    assert source_row(home, ids[0]).evidence["error_class"] == error_class
    assert all(_kinds(home, i) == ["archived"] for i in ids[1:])
    _break(wide_site, outlet, error_class, broken=False)
    _days(home, clock, ids, 1, transport)
    assert _kinds(home, ids[0])[-1] == "recovered"


def test_a_dns_hiccup_that_clears_is_only_failing(
    wide_site: NewsSite, home: Home, clock: ManualClock
) -> None:
    ids = _one_among_neighbours(wide_site, home, clock, "dnsnews")
    transport = wide_site.transport()
    _days(home, clock, ids, 1, transport)
    wide_site.dns_fail("dnsnews")
    _days(home, clock, ids, 2, transport)
    wide_site.dns_fail("dnsnews", broken=False)
    _days(home, clock, ids, 3, transport)
    assert _kinds(home, ids[0]) == ["archived", "failing", "recovered"]


def test_429_with_retry_after_backs_off_the_whole_host(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    busy, neighbour = publish(site, "apnews", "busy"), publish(site, "apnews", "neighbour")
    elsewhere = publish(site, "cnn", "elsewhere")
    ids = add_sources(home, clock, busy, neighbour, elsewhere)
    one_pass(home, clock, ids)
    site.flaky(busy, statuses=[429], retry_after=3600)
    one_pass(home, clock, ids[:1])
    with session(home.engine) as db:
        host = db.get(Host, host_of(busy))
        assert host is not None and host.backoff_until is not None
        assert "429" in (host.backoff_reason or "") and "3600" in (host.backoff_reason or "")
    before = site.hits(neighbour)
    summary = one_pass(home, clock, ids, advance=timedelta(minutes=10))
    assert summary.deferred == 2 and summary.checked == 1  # only the other host was fetched
    assert site.hits(neighbour) == before
    next_check = source_row(home, ids[1]).next_check_at
    assert next_check is not None and next_check > clock.now() + timedelta(minutes=45)
    summary = one_pass(home, clock, ids, advance=timedelta(hours=1))
    assert summary.deferred == 0 and site.hits(neighbour) == before + 1
    assert all(_kinds(home, i) == ["archived"] for i in ids)


def test_timeouts_and_resets_that_clear_are_not_failures(
    site: NewsSite, home: Home, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow, reset = publish(site, "apnews", "slow"), publish(site, "cnn", "reset")
    ids = add_sources(home, clock, slow, reset)
    one_pass(home, clock, ids)
    site.hang(slow, seconds=5)  # beyond the tests' 3 s fetch timeout
    site.drop(reset, count=2)
    one_pass(home, clock, ids, advance=DAY)
    assert {source_row(home, i).last_result for i in ids} <= {"timeout", "reset", "protocol"}
    site.restore(slow)
    _days(home, clock, ids, 2)
    assert all(_kinds(home, i) == ["archived"] for i in ids)
    assert all(source_row(home, i).health == "alive" for i in ids)


def test_an_unchanged_soft_404_stays_dead_evidence_on_a_static_host(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    url = publish(site, "reuters", "static-story")  # reuters answers 304 / identical bytes
    [sid] = add_sources(home, clock, url)
    _days(home, clock, [sid], 1)
    site.soft404(url)
    _days(home, clock, [sid], 5)
    assert _kinds(home, sid) == ["archived", "failing", "dead"]
    assert source_row(home, sid).consecutive_failures == 5


def test_status_shows_the_evidence_and_the_host(site: NewsSite, home: Home, clock: ManualClock) -> None:
    url = publish(site, "apnews", "gone")
    [sid] = add_sources(home, clock, url)
    one_pass(home, clock, [sid])
    site.set_status(url, 404)
    one_pass(home, clock, [sid], advance=DAY)
    result = run_cli(home.settings.home, "status", str(sid))
    assert result.code == 0, result.err
    for expected in ("failing", '"status": 404', "consecutive failures", "host probe", "honest"):
        assert expected in result.out


def test_the_small_monitor_rule_judges_only_after_the_confirmation_window(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    """Two hosts cannot vote on an outage: both down for a day is only `failing`."""
    urls = [publish(site, o, "story", paragraphs=PARAGRAPHS) for o in ("apnews", "cnn")]
    ids = add_sources(home, clock, *urls)
    one_pass(home, clock, ids)
    site.outage(True, "apnews")
    site.outage(True, "cnn")
    for _ in range(2):
        one_pass(home, clock, ids, advance=timedelta(hours=12))
    site.outage(False)
    one_pass(home, clock, ids, advance=timedelta(hours=12))
    assert all(_kinds(home, i) == ["archived", "failing", "recovered"] for i in ids)


def test_a_304_after_a_404_day_on_a_static_host_is_a_recovery(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    """The 304 answers our validators, which came from the article, not from the 404 page."""
    url = publish(site, "reuters", "static-hiccup")
    [sid] = add_sources(home, clock, url)
    _days(home, clock, [sid], 2)
    site.set_status(url, 404)
    _days(home, clock, [sid], 1)
    site.restore(url)
    _days(home, clock, [sid], 1)
    assert _kinds(home, sid) == ["archived", "failing", "recovered"]
    assert source_row(home, sid).last_result == "not_modified (304)"


def test_a_bot_check_served_with_200_is_blocked_not_a_change_or_a_death(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    url = publish(site, "apnews", "walled-later")
    [sid] = add_sources(home, clock, url)
    _days(home, clock, [sid], 1)
    site.block(url, 200)
    _days(home, clock, [sid], 4)
    assert _kinds(home, sid) == ["archived", "blocked"]
    site.restore(url)
    _days(home, clock, [sid], 1)
    assert _kinds(home, sid) == ["archived", "blocked", "recovered"]
