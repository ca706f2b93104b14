"""The capture policy: full responses when something happened, compact records otherwise.

Against the local site's churning outlet (~100 KB pages whose bytes differ on every
request), with a manual clock: an unchanged article costs ≤ 2 KB per check, yet an
edit, a death, a recovery and the daily full copy are all kept in full.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlmodel import col, select

from monitor.archive.restore import find_copy
from monitor.archive.warc import WarcArchive
from monitor.check import stored_of
from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import Capture, Source
from tests.conftest import add_sources, one_pass, publish
from tests.site import NewsSite
from tests.test_capture import assert_warcio_check

BUDGET = 2048  # bytes per check of an unchanged article (issue 5)


@pytest.fixture
def big_site() -> Iterator[NewsSite]:
    with NewsSite(outlets=["cnn", "reuters"], static_outlets=["reuters"], page_kb=100) as news:
        yield news


def _home(home_dir: Path, monkeypatch: pytest.MonkeyPatch, **settings: str) -> Home:
    for key, value in settings.items():
        monkeypatch.setenv(f"MONITOR_ARCHIVE__{key.upper()}", value)
    return open_home(home_dir)


def _captures(home: Home, source_id: int) -> list[Capture]:
    with session(home.engine) as db:
        query = select(Capture).where(col(Capture.source_id) == source_id).order_by(col(Capture.id))
        return list(db.exec(query).all())


def _warc_bytes(home: Home) -> int:
    return sum(p.stat().st_size for p in home.settings.warc_dir.glob("*.warc.gz"))


def _kinds(home: Home, source_id: int) -> list[str | None]:
    return [c.record_type for c in _captures(home, source_id)]


def test_unchanged_churning_article_costs_under_2kb_per_check(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(home_dir, monkeypatch)
    [sid] = add_sources(home, clock, publish(big_site, "cnn", "churn"))
    one_pass(home, clock, [sid])
    first = _warc_bytes(home)
    assert first > 50_000  # the first response is kept in full (gzipped)
    checks = 3  # 6-hourly: all within the daily full-copy period
    for _ in range(checks):
        one_pass(home, clock, [sid])
    per_check = (_warc_bytes(home) - first) / checks
    print(f"bytes per unchanged check of a churning 100 KB page: {per_check:.0f}")
    assert per_check <= BUDGET
    captures = _captures(home, sid)
    assert [c.record_type for c in captures] == ["response"] + ["metadata"] * checks
    original = captures[0]
    for compact in captures[1:]:
        assert compact.refers_to_capture_id == original.id
        assert compact.version_id == original.version_id
        assert compact.payload_digest and compact.payload_digest != original.payload_digest  # churn
    home.engine.dispose()


def test_metadata_record_names_the_response_it_matches(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(home_dir, monkeypatch)
    [sid] = add_sources(home, clock, publish(big_site, "cnn", "named"))
    one_pass(home, clock, [sid])
    one_pass(home, clock, [sid])
    original, compact = _captures(home, sid)
    raw = WarcArchive(home.settings.warc_dir).read_raw(stored_of(compact).response)
    text = gzip.decompress(raw).decode()
    assert "WARC-Type: metadata" in text
    assert f"WARC-Refers-To: {original.record_id}" in text
    assert "Content-Type: application/warc-fields" in text
    assert f"payload-digest: {compact.payload_digest}" in text and "http-status: 200" in text
    assert_warcio_check(*home.settings.warc_dir.glob("*.warc.gz"))
    home.engine.dispose()


def test_edit_health_change_and_recovery_are_kept_in_full(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(home_dir, monkeypatch)
    url = publish(big_site, "cnn", "eventful")
    [sid] = add_sources(home, clock, url)
    one_pass(home, clock, [sid])                       # response: first
    one_pass(home, clock, [sid])                       # metadata: nothing new
    big_site.edit(url, headline="A new headline for the story")
    one_pass(home, clock, [sid])                       # response: article changed
    one_pass(home, clock, [sid])                       # metadata
    big_site.set_status(url, 404)
    one_pass(home, clock, [sid])                       # response: health changed
    one_pass(home, clock, [sid])                       # metadata: the same 404 page again
    big_site.restore(url)
    one_pass(home, clock, [sid])                       # response: recovered
    assert _kinds(home, sid) == ["response", "metadata", "response", "metadata",
                                 "response", "metadata", "response"]
    captures = _captures(home, sid)
    assert captures[3].refers_to_capture_id == captures[2].id  # compact points at the edit
    assert captures[5].refers_to_capture_id == captures[4].id and captures[5].outcome == "gone"
    home.engine.dispose()


def test_a_full_copy_at_least_once_per_period(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(home_dir, monkeypatch, full_every="1d")
    [sid] = add_sources(home, clock, publish(big_site, "cnn", "daily"))
    for _ in range(9):  # 6-hourly over two days
        one_pass(home, clock, [sid])
    captures = _captures(home, sid)
    full = [c for c in captures if c.record_type == "response"]
    assert len(full) == 3  # first, then one per day
    gaps = [b.at - a.at for a, b in pairwise(full)]
    assert all(gap == timedelta(days=1) for gap in gaps)
    home.engine.dispose()


def test_keep_every_stores_every_response(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(home_dir, monkeypatch, keep="every")
    [sid] = add_sources(home, clock, publish(big_site, "cnn", "every"))
    for _ in range(3):
        one_pass(home, clock, [sid])
    assert _kinds(home, sid) == ["response"] * 3
    home.engine.dispose()


def test_compact_row_writes_nothing_to_the_archive(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(home_dir, monkeypatch, compact="row")
    [sid] = add_sources(home, clock, publish(big_site, "cnn", "rows"))
    one_pass(home, clock, [sid])
    size = _warc_bytes(home)
    one_pass(home, clock, [sid])
    assert _warc_bytes(home) == size
    first, second = _captures(home, sid)
    assert second.record_type is None and second.warc_file is None
    assert second.refers_to_capture_id == first.id and second.version_id == first.version_id
    home.engine.dispose()


def test_identical_payloads_stay_revisits(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A static page's bytes repeat: the standard revisit is true and stays the record."""
    home = _home(home_dir, monkeypatch)
    [sid] = add_sources(home, clock, publish(big_site, "reuters", "static"))
    one_pass(home, clock, [sid])
    before = _warc_bytes(home)
    one_pass(home, clock, [sid])
    one_pass(home, clock, [sid])
    assert _kinds(home, sid)[1:] == ["revisit", "revisit"]
    assert (_warc_bytes(home) - before) / 2 <= BUDGET
    home.engine.dispose()


def test_restore_at_a_compact_check_gives_the_stored_response(
    big_site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(home_dir, monkeypatch)
    [sid] = add_sources(home, clock, publish(big_site, "cnn", "restorable"))
    one_pass(home, clock, [sid])
    one_pass(home, clock, [sid])
    original, compact = _captures(home, sid)
    with session(home.engine) as db:
        source = db.get(Source, sid)
        assert source is not None
        copy = find_copy(db, source, compact.at)
    assert copy.original.id == original.id
    home.engine.dispose()
