"""``monitor export``: a WACZ package that the ``wacz`` validator accepts and pywb replays,
holding exactly the captures chosen (and the full responses they stand for)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import zipfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive.warc import RecordRef, WarcArchive
from monitor.clock import iso
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
from tests.conftest import archive_tool, run_cli
from tests.pywb_server import replay_mismatches, running_pywb

pytestmark = pytest.mark.slow
SUMMARY = re.compile(r"wrote (?P<path>\S+): (?P<captures>\d+) captures? of (?P<sources>\d+) sources?, "
                     r"(?P<bytes>\d+) bytes")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    with suite_environment():
        return write_story(tmp_path_factory.mktemp("export") / "home")


def export(story: Story, out: Path, *args: str) -> re.Match[str]:
    """Run ``monitor export``; check it succeeded and its summary line tells the truth."""
    done = run_cli(story.home_dir, "export", "-o", str(out), *args)
    assert done.code == 0, done.err
    summary = SUMMARY.search(done.out)
    assert summary, done.out
    assert int(summary["bytes"]) == out.stat().st_size
    return summary


def validate(wacz: Path) -> None:
    """The ``wacz`` package's own validator (py-wacz, from the tools virtualenv) accepts it."""
    done = subprocess.run([str(archive_tool("wacz")), "validate", "-f", str(wacz)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Validation succeeded" in done.stdout, done.stdout + done.stderr


def package_index(wacz: Path) -> list[dict[str, str]]:
    """indexes/index.cdx, checked to be sorted CDXJ, as (urlkey, timestamp, fields) dicts."""
    with zipfile.ZipFile(wacz) as package:
        lines = package.read("indexes/index.cdx").decode("utf-8").splitlines()
        assert package.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        assert package.getinfo("indexes/index.cdx").compress_type == zipfile.ZIP_STORED
    assert lines and lines == sorted(lines)
    entries = []
    for line in lines:
        urlkey, stamp, fields = line.split(" ", 2)
        entries.append({"urlkey": urlkey, "timestamp": stamp, **json.loads(fields)})
    return entries


def included(captures: list[Capture], chosen: Iterable[Capture]) -> list[Capture]:
    """What a package of ``chosen`` must hold: the chosen captures that have records, and every
    capture they refer to (a revisit's or compact capture's full response), from any time."""
    by_id = {c.id: c for c in captures}
    wanted = {c.id for c in chosen if c.record_type or c.refers_to_capture_id}
    todo = list(wanted)
    while todo:
        refers = by_id[todo.pop()].refers_to_capture_id
        if refers is not None and refers not in wanted:
            wanted.add(refers)
            todo.append(refers)
    return [c for c in captures if c.id in wanted and c.record_type]


def check_contents(story: Story, wacz: Path, expected: list[Capture]) -> None:
    """The CDXJ lists exactly the replayable captures expected, each pointing at a byte-for-byte
    copy of the record the database points to."""
    entries = package_index(wacz)
    listed = {(e["url"], e["timestamp"]) for e in entries}
    assert listed == {(target_uri(c), timestamp14(c.at)) for c in expected if replayable(c)}
    assert {e["filename"] for e in entries} == {"data.warc.gz"}
    archive = WarcArchive(story.home_dir / "archive" / "warc")
    with zipfile.ZipFile(wacz) as package:
        data = package.read("archive/data.warc.gz")
    for capture in expected:
        if not replayable(capture):
            continue
        [entry] = [e for e in entries if (e["url"], e["timestamp"]) == (target_uri(capture),
                                                                      timestamp14(capture.at))]
        assert entry["digest"] == capture.payload_digest
        start, length = int(entry["offset"]), int(entry["length"])
        stored = RecordRef(capture.warc_file or "", capture.warc_offset or 0, capture.warc_length or 0)
        assert data[start:start + length] == archive.read_raw(stored)
    records = gzip.decompress(data).count(b"\r\nWARC-Type: ")
    requests = sum(1 for c in expected if c.request_length)
    assert records == 1 + len(expected) + requests  # warcinfo, then each capture's records


def test_export_all_validates_and_replays_in_pywb(story: Story, tmp_path: Path) -> None:
    out = tmp_path / "all.wacz"
    summary = export(story, out)
    captures = story.captures()
    expected = included(captures, captures)
    assert (int(summary["captures"]), int(summary["sources"])) == (len(expected), len(story.ids))
    validate(out)
    check_contents(story, out, expected)
    with zipfile.ZipFile(out) as package:
        header, *pages = [json.loads(line) for line in package.read("pages/pages.jsonl").splitlines()]
    assert header["format"] == "json-pages-1.0"
    assert len(pages) == len(story.ids)
    index = {(e["url"], e["timestamp"]) for e in package_index(out)}
    for page in pages:
        assert (page["url"], timestamp14(datetime.fromisoformat(page["ts"]))) in index
    assert {p["url"] for p in pages} >= {story.urls["edited"], story.urls["moved_to"]}
    payloads = expected_payloads(story)
    with running_pywb(tmp_path / "pywb", [out]) as pywb:
        replayed = [c for c in expected if replayable(c)]
        assert replay_mismatches(pywb, replayed, payloads) == []


def test_export_of_chosen_sources_holds_only_theirs(story: Story, tmp_path: Path) -> None:
    out = tmp_path / "two.wacz"
    summary = export(story, out, "--source", story.urls["edited"], "--source", str(story.ids["static"]))
    assert summary["sources"] == "2"
    validate(out)
    captures = story.captures()
    chosen = [c for c in captures if c.source_id in (story.ids["edited"], story.ids["static"])]
    expected = included(captures, chosen)
    assert {c.source_id for c in expected} == {story.ids["edited"], story.ids["static"]}
    check_contents(story, out, expected)


def test_export_of_a_time_range_brings_the_responses_it_refers_to(story: Story, tmp_path: Path) -> None:
    """The last pass alone holds revisits and compact captures; their full responses come
    along from the first pass, and nothing else from before --since does."""
    out = tmp_path / "last-pass.wacz"
    last = story.passes[-1]
    export(story, out, "--since", iso(last) or "", "--until", iso(last) or "")
    validate(out)
    captures = story.captures()
    chosen = [c for c in captures if c.at == last]
    expected = included(captures, chosen)
    earlier = [c for c in expected if c.at < last]
    assert earlier and all(any(x.refers_to_capture_id == c.id for x in chosen) for c in earlier)
    assert any(c.record_type == "metadata" for c in chosen), "the range should hold a compact capture"
    check_contents(story, out, expected)


def test_a_date_means_the_whole_day(story: Story, tmp_path: Path) -> None:
    day = story.passes[1].date().isoformat()
    summary = export(story, tmp_path / "day.wacz", "--since", day, "--until", day)
    captures = story.captures()
    start = datetime.fromisoformat(day).replace(tzinfo=story.passes[0].tzinfo)
    chosen = [c for c in captures if start <= c.at < start + timedelta(days=1)]
    assert int(summary["captures"]) == len(included(captures, chosen))


@pytest.mark.parametrize(("args", "says"), [
    (["--since", "2030-01-01"], "nothing archived to export"),
    (["--source", "999"], "no source '999'"),
    (["--since", "last tuesday"], "--since: not an ISO 8601 time"),
    (["--since", "2025-02-01", "--until", "2025-01-01"], "is after --until"),
])
def test_bad_selections_say_why_and_leave_the_file_alone(
    story: Story, tmp_path: Path, args: list[str], says: str
) -> None:
    out = tmp_path / "keep.wacz"
    out.write_bytes(b"an earlier export")
    done = run_cli(story.home_dir, "export", "-o", str(out), *args)
    assert done.code != 0
    assert says in done.err and "Traceback" not in done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert out.read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wacz"], "scratch files left behind"


def test_the_output_must_be_a_wacz_file(story: Story, tmp_path: Path) -> None:
    done = run_cli(story.home_dir, "export", "-o", str(tmp_path / "archive.zip"))
    assert done.code != 0 and "must end in .wacz" in done.err
    assert list(tmp_path.iterdir()) == []
