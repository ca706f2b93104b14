"""check_source end to end against the local news site, in process, with a manual clock."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta

from sqlmodel import col, select

from monitor.archive.restore import find_copy, html_bytes
from monitor.check import check_source
from monitor.clock import ManualClock
from monitor.fetch import Fetcher
from monitor.home import Home
from monitor.settings import FetchSettings
from monitor.store import session
from monitor.store.models import Capture, Version
from tests.conftest import PARAGRAPHS, publish
from tests.conftest import add_sources as _add
from tests.conftest import events_of as _events
from tests.conftest import one_pass as _pass
from tests.conftest import source_row as _source
from tests.site import NewsSite


def test_churn_is_not_a_change_but_an_edit_is(site: NewsSite, home: Home, clock: ManualClock) -> None:
    url = publish(site, "apnews", "rednote")
    [sid] = _add(home, clock, url)
    for _ in range(4):
        summary = _pass(home, clock, [sid])
        assert summary.checked == 1 and summary.errors == 0
    assert site.hits(url) == 4
    assert [e.kind for e in _events(home)] == ["archived"]
    site.edit(url, paragraphs=[PARAGRAPHS[0].replace("300 million", "350 million"), *PARAGRAPHS[1:]])
    _pass(home, clock, [sid])
    [changed] = _events(home, "changed")
    assert "numbers" in changed.details["classification"]
    assert "300 million" in changed.summary and "350 million" in changed.summary
    assert _source(home, sid).version_count == 2


def test_flip_flop_is_recorded_not_alerted(site: NewsSite, home: Home, clock: ManualClock) -> None:
    url = publish(site, "apnews", "ab-test")
    [sid] = _add(home, clock, url)
    _pass(home, clock, [sid])
    site.edit(url, headline="A/B headline")
    _pass(home, clock, [sid])
    site.edit(url, headline="What is RedNote?")
    _pass(home, clock, [sid])
    site.edit(url, headline="A/B headline")
    _pass(home, clock, [sid])
    kinds = [e.kind for e in _events(home)]
    assert kinds == ["archived", "changed", "flipflop", "flipflop"]
    assert _source(home, sid).version_count == 2


def test_404_and_410_are_failing_then_dead_over_days(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    gone, removed = publish(site, "apnews", "gone"), publish(site, "cnn", "removed")
    alive = publish(site, "reuters", "alive")
    ids = _add(home, clock, gone, removed, alive)
    _pass(home, clock, ids)
    site.set_status(gone, 404)
    site.set_status(removed, 410)
    for _ in range(4):
        _pass(home, clock, ids)
        clock.advance(timedelta(days=1))
    by_source = {(e.source_id, e.kind) for e in _events(home) if e.kind in ("failing", "dead")}
    assert by_source == {(ids[0], "failing"), (ids[0], "dead"), (ids[1], "failing"),
                         (ids[1], "dead")}
    assert _source(home, ids[2]).health == "alive"
    dead = _events(home, "dead")[0]
    assert dead.details["evidence"]["status"] in (404, 410)


def test_network_outage_is_offline_and_judges_nobody(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    urls = [publish(site, outlet, f"story-{outlet}") for outlet in site.outlets]
    ids = _add(home, clock, *urls)
    _pass(home, clock, ids)
    site.outage(True)
    for _ in range(5):
        summary = _pass(home, clock, ids)
        assert summary.offline
        clock.advance(timedelta(days=1))
    kinds = [e.kind for e in _events(home)]
    assert kinds.count("offline") == 1
    assert not {"failing", "dead"} & set(kinds)
    site.outage(False)
    assert not _pass(home, clock, ids).offline
    assert _events(home)[-1].kind == "online"
    assert all(_source(home, i).health == "alive" for i in ids)


def test_one_refused_host_among_several_is_judged(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    urls = [publish(site, outlet, f"s-{outlet}") for outlet in site.outlets]
    ids = _add(home, clock, *urls)
    _pass(home, clock, ids)
    site.outage(True, outlet="cnn")
    summary = _pass(home, clock, ids)
    assert not summary.offline
    [failing] = _events(home, "failing")
    assert failing.url == urls[1] and "refused" in failing.summary


def test_static_pages_use_conditional_get_and_revisit_records(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    url = publish(site, "reuters", "static")
    [sid] = _add(home, clock, url)
    for _ in range(3):
        _pass(home, clock, [sid])
    requests = site.requests(url)
    assert "if-none-match" not in requests[0]["headers"]
    assert requests[1]["headers"].get("if-none-match")
    assert requests[0]["headers"]["user-agent"].startswith("source-monitor/")
    assert "mailto:tests@example.org" in requests[0]["headers"]["user-agent"]
    with session(home.engine) as db:
        captures = db.exec(select(Capture).order_by(col(Capture.id))).all()
    assert [(c.status, c.record_type) for c in captures] == [
        (200, "response"), (304, "revisit"), (304, "revisit")]
    assert all(c.refers_to_capture_id == captures[0].id for c in captures[1:])


def test_restore_returns_the_served_bytes_at_each_time(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    url = publish(site, "cnn", "restore-me")
    [sid] = _add(home, clock, url)
    _pass(home, clock, [sid])
    first_bytes, first_at = site.last_body(url), clock.now()
    site.edit(url, headline="The great social media migration")
    _pass(home, clock, [sid])
    second_bytes = site.last_body(url)
    assert first_bytes != second_bytes
    archive = home.open_archive()
    try:
        with session(home.engine) as db:
            source = _source(home, sid)
            assert html_bytes(archive, find_copy(db, source, first_at)) == first_bytes
            assert html_bytes(archive, find_copy(db, source, None)) == second_bytes
    finally:
        archive.close()
    warcs = sorted((home.settings.warc_dir).glob("*.warc.gz"))
    assert subprocess.run(["warcio", "check", *map(str, warcs)]).returncode == 0


def test_moved_article_is_followed_with_its_history(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    old = publish(site, "apnews", "old-slug")
    [sid] = _add(home, clock, old)
    _pass(home, clock, [sid])
    new = publish(site, "apnews", "new-slug")
    site.redirect(old, new, code=301)
    _pass(home, clock, [sid])
    [moved] = _events(home, "moved")
    source = _source(home, sid)
    assert source.url == new and source.previous_urls == [old]
    assert moved.details["evidence"]["new_url"] == new
    _pass(home, clock, [sid])
    assert _source(home, sid).health == "alive"
    assert [e.kind for e in _events(home)] == ["archived", "moved"]


def test_redirect_to_homepage_and_soft_404_count_as_failures(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    homed, soft = publish(site, "apnews", "homed"), publish(site, "cnn", "soft")
    ids = _add(home, clock, homed, soft)
    _pass(home, clock, ids)
    site.redirect_home(homed)
    site.soft404(soft)
    _pass(home, clock, ids)
    failing = {e.source_id: e.summary for e in _events(home, "failing")}
    assert "site front" in failing[ids[0]]
    assert "not found" in failing[ids[1]]
    assert not _events(home, "changed")  # a dead page is not an article edit


def test_walls_and_503_bursts_are_not_failures(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    walled, busy = publish(site, "apnews", "walled"), publish(site, "cnn", "busy")
    ids = _add(home, clock, walled, busy)
    _pass(home, clock, ids)
    site.block(walled)
    site.flaky(busy, statuses=[503, 503], retry_after=120)
    for _ in range(3):
        _pass(home, clock, ids)
    kinds = [(e.source_id, e.kind) for e in _events(home) if e.kind != "archived"]
    assert kinds == [(ids[0], "blocked")]
    assert _source(home, ids[1]).health == "alive"


def test_a_check_survives_a_hanging_server(site: NewsSite, home: Home, clock: ManualClock) -> None:
    url = publish(site, "apnews", "slow")
    [sid] = _add(home, clock, url)
    site.hang(url, seconds=5)

    async def run() -> str:
        fetcher = Fetcher(FetchSettings(timeout=timedelta(seconds=0.3)), "ua", clock)
        async with home.check_context(clock, fetcher=fetcher) as ctx:
            return (await check_source(ctx, sid)).signal

    assert asyncio.run(run()) == "transient"
    with session(home.engine) as db:
        [capture] = db.exec(select(Capture)).all()
        assert capture.error_class == "timeout"
        assert db.exec(select(Version)).all() == []


def test_a_move_onto_an_already_watched_url_is_reported_not_followed(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    old, new = publish(site, "apnews", "old"), publish(site, "apnews", "new")
    ids = _add(home, clock, old, new)
    _pass(home, clock, ids)
    site.redirect(old, new, code=308)
    summary = _pass(home, clock, ids)
    assert summary.errors == 0
    [moved] = _events(home, "moved")
    assert moved.source_id == ids[0] and moved.details["followed"] is False
    assert _source(home, ids[0]).url == old
