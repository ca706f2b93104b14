"""Retention: ``monitor gc`` prunes old compact records and never loses evidence.

A churning article is checked 6-hourly for two weeks with an edit and a death in the
middle; gc then prunes the compact checks older than a week. Every remaining row still
resolves to its record with the digest it claims, every version restores, and the
files the service wrote still pass ``warcio check``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from monitor.archive.fixity import verify_archive
from monitor.archive.gc import GcReport, collect
from monitor.archive.warc import WarcArchive
from monitor.check import stored_of
from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.schedule import run_pass
from monitor.store import session
from monitor.store.models import Capture, Event, Version
from tests.conftest import add_sources, checking, one_pass, publish, run_cli
from tests.site import NewsSite
from tests.test_capture import assert_warcio_check


@pytest.fixture
def churning() -> Iterator[NewsSite]:
    with NewsSite(outlets=["cnn", "reuters"], static_outlets=["reuters"], page_kb=40) as news:
        yield news


@pytest.fixture
def history(churning: NewsSite, home_dir: Path, clock: ManualClock,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Home, list[int]]]:
    """Two weeks of 6-hourly checks: a churning story edited on day 3, a static one, one that dies."""
    monkeypatch.setenv("MONITOR_ARCHIVE__MAX_FILE_BYTES", "200000")  # several files
    home = open_home(home_dir)
    edited = publish(churning, "cnn", "edited")
    dying = publish(churning, "cnn", "dying")
    ids = add_sources(home, clock, edited, dying, publish(churning, "reuters", "static"))
    for n in range(56):
        if n == 12:
            churning.edit(edited, headline="An edited headline, day three")
        if n == 20:
            churning.set_status(dying, 404)
        one_pass(home, clock, ids)
    yield home, ids
    home.engine.dispose()


def _rows(home: Home) -> list[Capture]:
    with session(home.engine) as db:
        return list(db.exec(select(Capture).order_by(col(Capture.id))).all())


def _archive_bytes(home: Home) -> int:
    return sum(p.stat().st_size for p in home.settings.warc_dir.glob("*.warc.gz"))


def test_gc_prunes_old_compact_records_and_keeps_every_piece_of_evidence(
    history: tuple[Home, list[int]], clock: ManualClock
) -> None:
    home, _ = history
    before, size = _rows(home), _archive_bytes(home)
    with session(home.engine) as db:
        versions = list(db.exec(select(Version)).all())
        event_captures = {e.details["capture_id"] for e in db.exec(select(Event)).all()
                          if "capture_id" in e.details}
    cutoff = clock.now() - timedelta(days=7)
    expected = {c.id for c in before if c.at < cutoff and c.record_type in ("metadata", "revisit")}
    dry = collect(home.engine, home.settings.warc_dir, timedelta(days=7), clock.now(), dry_run=True)
    assert _archive_bytes(home) == size and len(_rows(home)) == len(before)  # a dry run changes nothing

    report = collect(home.engine, home.settings.warc_dir, timedelta(days=7), clock.now())
    after = {c.id: c for c in _rows(home)}
    pruned = {c.id for c in before} - set(after)
    assert (report.captures, report.records) == (dry.captures, dry.records)
    assert report.bytes_freed >= dry.bytes_freed  # files left with only their warcinfo go too
    assert pruned and pruned <= expected and report.files_rewritten + report.files_removed >= 1
    assert _archive_bytes(home) == size - report.bytes_freed
    # nothing anything points to is gone
    assert all(v.capture_id in after for v in versions) and event_captures <= set(after)
    assert all(c.refers_to_capture_id in after for c in after.values() if c.refers_to_capture_id)
    full = [c for c in before if c.record_type == "response" or c.error_class or c.record_type is None]
    assert all(c.id in after for c in full)  # responses and failed fetches are never pruned
    # the archive still proves itself, and every version restores with its bytes
    fixity = verify_archive(home.engine, home.settings.warc_dir)
    assert [f for f in fixity.findings if f.kind != "unreferenced"] == []
    assert_warcio_check(*home.settings.warc_dir.glob("*.warc.gz"))
    archive = WarcArchive(home.settings.warc_dir)
    for version in versions:
        capture = after[version.capture_id or 0]
        assert archive.read_payload(stored_of(capture).response)
    # a second run finds nothing more to do
    again = collect(home.engine, home.settings.warc_dir, timedelta(days=7), clock.now())
    assert (again.captures, again.files_rewritten) == (0, 0)


def test_gc_leaves_a_file_a_writer_holds(churning: NewsSite, home: Home, clock: ManualClock) -> None:
    [sid] = add_sources(home, clock, publish(churning, "cnn", "held"))

    async def checks_then_gc() -> GcReport:
        async with checking(home, clock) as ctx:  # its WARC file stays open (and locked) meanwhile
            for _ in range(4):
                clock.advance(timedelta(hours=6))
                await run_pass(ctx, [sid])
            clock.advance(timedelta(days=30))
            return collect(home.engine, home.settings.warc_dir, timedelta(days=7), clock.now())

    size = _archive_bytes(home)
    report = asyncio.run(checks_then_gc())
    assert report.left_alone and all("a writer holds it" in line for line in report.left_alone)
    assert report.files_rewritten == 0 and report.captures == 0
    assert _archive_bytes(home) > size and len(_rows(home)) == 4


def test_gc_command_reports_and_row_only_compact_checks_go_too(
    churning: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_ARCHIVE__COMPACT", "row")
    home = open_home(home_dir)
    [sid] = add_sources(home, clock, publish(churning, "cnn", "rows"))
    for _ in range(4):
        one_pass(home, clock, [sid])
    rows = len(_rows(home))
    home.engine.dispose()
    # the command uses the real clock: the checks (January 2025) are far older than a day
    result = run_cli(home_dir, "gc", "--older-than", "1d", env={"MONITOR_ARCHIVE__COMPACT": "row"})
    assert result.code == 0, result.err
    assert "pruned 2 compact checks older than 1d" in result.out  # the last check is kept
    assert len(_rows(open_home(home_dir))) == rows - 2
    bad = run_cli(home_dir, "gc", "--older-than", "often")
    assert bad.code == 2 and "--older-than: not a duration" in bad.err
