"""The archive opens in the tools archivists use: warcio, CDXJ indexers and pywb replay.

The WARC files are the service's own, written by real checks against the test site
(tests/archive_story.py); pywb runs from its own virtualenv (see ``archive_tool``).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cdxj_indexer.main import CDXJIndexer

from monitor.store.models import Capture
from tests.archive_story import (
    Story,
    expected_payloads,
    replayable,
    suite_environment,
    target_uri,
    timestamp14,
    write_story,
)
from tests.pywb_server import Replay, memento_datetime, replay_mismatches, running_pywb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    with suite_environment():
        return write_story(tmp_path_factory.mktemp("replay") / "home")


@pytest.fixture(scope="module")
def warc_files(story: Story) -> list[Path]:
    files = sorted((story.home_dir / "archive" / "warc").glob("*.warc.gz"))
    assert files
    return files


@pytest.fixture(scope="module")
def payloads(story: Story) -> dict[int, bytes]:
    return expected_payloads(story)


@pytest.fixture(scope="module")
def pywb(tmp_path_factory: pytest.TempPathFactory, warc_files: list[Path]) -> Iterator[Replay]:
    with running_pywb(tmp_path_factory.mktemp("pywb"), warc_files) as replay:
        yield replay


def _warcio(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warcio.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _record_keys(captures: list[Capture]) -> set[tuple[str, str, str, int, int]]:
    """(url, timestamp, file, offset, length) of each replayable capture's record."""
    return {(target_uri(c), timestamp14(c.at), c.warc_file or "", c.warc_offset or 0, c.warc_length or 0)
            for c in captures if replayable(c)}


def _cdxj_keys(lines: list[str]) -> set[tuple[str, str, str, int, int]]:
    keys = set()
    for line in lines:
        _, stamp, fields = line.split(" ", 2)
        entry = json.loads(fields)
        keys.add((entry["url"], stamp, entry["filename"], int(entry["offset"]), int(entry["length"])))
    return keys


def test_the_story_holds_every_kind_of_record(story: Story) -> None:
    """Guard for the tests below: the archive really has what they claim to replay."""
    captures = story.captures()
    kinds = {(c.record_type, c.status) for c in captures}
    assert {("response", 200), ("response", 404), ("revisit", 304), ("revisit", 404)} <= kinds
    by_source = {sid: [c for c in captures if c.source_id == sid] for sid in story.ids.values()}
    edited = [c for c in by_source[story.ids["edited"]] if c.record_type == "response"]
    assert len({c.payload_digest for c in edited}) >= 2, "the edit gave no second version"
    moved = by_source[story.ids["moved_from"]]
    assert any(c.final_url == story.urls["moved_to"] and c.record_type == "response" for c in moved)
    assert any(not replayable(c) and c.refers_to_capture_id for c in captures), "no compact capture"


def test_every_warc_file_passes_warcio_check_and_index(story: Story, warc_files: list[Path]) -> None:
    indexed: set[tuple[str, int, int]] = set()
    for path in warc_files:
        check = _warcio("check", "-v", path)
        assert check.returncode == 0, f"warcio check {path.name}:\n{check.stdout}{check.stderr}"
        index = _warcio("index", "-f", "warc-type,offset,length", path)
        assert index.returncode == 0, f"warcio index {path.name}:\n{index.stderr}"
        for line in index.stdout.splitlines():
            entry = json.loads(line)
            indexed.add((path.name, int(entry["offset"]), int(entry["length"])))
    captures = [c for c in story.captures() if c.warc_file]
    stored = {(c.warc_file, c.warc_offset, c.warc_length) for c in captures}
    stored |= {(c.warc_file, c.request_offset, c.request_length) for c in captures if c.request_length}
    assert stored and stored <= indexed, f"records in the database, unknown to warcio: {stored - indexed}"


def test_cdxj_indexes_list_exactly_the_replayable_captures(
    story: Story, warc_files: list[Path], pywb: Replay
) -> None:
    """pywb's own index (built by ``wb-manager add``) and the cdxj-indexer library agree with the
    database: one line per response or revisit, at its time, file, offset and length."""
    expected = _record_keys(story.captures())
    assert _cdxj_keys(pywb.index.read_text().splitlines()) == expected
    out = io.StringIO()
    CDXJIndexer(out, [str(p) for p in warc_files], sort=True).process_all()
    lines = out.getvalue().splitlines()
    assert lines == sorted(lines)
    assert _cdxj_keys(lines) == expected


def test_pywb_replays_every_response_and_identical_payload_revisit(
    story: Story, pywb: Replay, payloads: dict[int, bytes]
) -> None:
    captures = [c for c in story.captures() if replayable(c) and c.status != 304]
    assert len(captures) >= 10
    assert replay_mismatches(pywb, captures, payloads) == []


def test_pywb_replays_304_revisits_with_the_original_payload(
    story: Story, pywb: Replay, payloads: dict[int, bytes]
) -> None:
    captures = [c for c in story.captures() if c.record_type == "revisit" and c.status == 304]
    assert captures
    assert replay_mismatches(pywb, captures, payloads) == []


def test_a_time_between_two_versions_replays_the_earlier_one(
    story: Story, pywb: Replay, payloads: dict[int, bytes]
) -> None:
    """pywb serves the capture closest to the time asked: a time after the first version was
    captured, nearer to it than to the edit, replays the first version, not the second."""
    edited = [c for c in story.captures() if c.source_id == story.ids["edited"]]
    first, second = [c for c in edited if c.record_type == "response"][:2]
    between = first.at + (second.at - first.at) / 3
    assert first.at < between < second.at and payloads[first.id or 0] != payloads[second.id or 0]
    answer = pywb.get(timestamp14(between), target_uri(first))
    assert answer.status_code == 200
    assert memento_datetime(answer) == first.at
    assert answer.content == payloads[first.id or 0]
    later = pywb.get(timestamp14(second.at + timedelta(hours=1)), target_uri(second))
    assert later.content == payloads[second.id or 0]
