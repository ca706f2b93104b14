"""``monitor verify``: fixity of the archive against the database, damage found by capture id.

An archive is built by real passes over the local site (full responses, revisits of a
static outlet, compact metadata records of a churning one, an edit), then damaged the
ways storage fails: a changed byte, a truncated or deleted file, a row pointing past
the end or at another record, references that lead nowhere. Each damage must be
reported against exactly the captures it touches, and nothing else.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import col, select

from monitor.archive.fixity import FixityReport, verify_archive
from monitor.clock import ManualClock
from monitor.home import Home
from monitor.store import session
from monitor.store.models import Capture, Version
from tests.conftest import PARAGRAPHS, add_sources, one_pass, publish, run_cli
from tests.site import NewsSite


@dataclass
class Archived:
    home: Home
    sources: dict[str, int]  # outlet -> source id

    @property
    def warc_dir(self) -> Path:
        return self.home.settings.warc_dir

    def captures(self) -> list[Capture]:
        with session(self.home.engine) as db:
            return list(db.exec(select(Capture).order_by(col(Capture.id))).all())

    def stored(self) -> list[Capture]:
        return [c for c in self.captures() if c.record_type is not None]

    def capture(self, outlet: str, record_type: str, last: bool = False) -> Capture:
        found = [c for c in self.stored()
                 if c.source_id == self.sources[outlet] and c.record_type == record_type]
        return found[-1] if last else found[0]

    def verify(self, source_ids: list[int] | None = None) -> FixityReport:
        return verify_archive(self.home.engine, self.warc_dir, source_ids)

    def update(self, capture_id: int, **values: object) -> None:
        with session(self.home.engine) as db:
            row = db.get(Capture, capture_id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            db.commit()


@pytest.fixture
def archived(site: NewsSite, home: Home, clock: ManualClock) -> Archived:
    """Three sources over three passes (one file each): responses, revisits, metadata, an edit."""
    long_story = [*PARAGRAPHS, *PARAGRAPHS]
    urls = {outlet: publish(site, outlet, f"fixity-{outlet}", paragraphs=long_story)
            for outlet in ("apnews", "cnn", "reuters")}
    ids = add_sources(home, clock, *urls.values())
    one_pass(home, clock, ids)
    one_pass(home, clock, ids)
    site.edit(urls["apnews"], headline="Minister resigns after all")
    one_pass(home, clock, ids)
    return Archived(home, dict(zip(urls, ids, strict=True)))


def problems_of(report: FixityReport) -> set[tuple[str, int | None]]:
    """(kind, capture id) of every problem; file-level problems have capture id None."""
    return {(p.kind, p.capture_id) for p in report.problems}


def record_end(capture: Capture) -> int:
    """Where the last of the capture's records (main record, then its request) ends."""
    assert capture.warc_offset is not None and capture.warc_length is not None
    ends = [capture.warc_offset + capture.warc_length]
    if capture.request_offset is not None and capture.request_length:
        ends.append(capture.request_offset + capture.request_length)
    return max(ends)


def rewrite_member(path: Path, offset: int, length: int, changes: Callable[[bytes], Iterator[bytes]]) -> None:
    """Replace one gzip member by a valid member of the same length holding changed bytes.

    The new member is padded to the old length with a gzip comment (FCOMMENT), so every
    other record stays where the database says it is: only the content differs. The
    first of ``changes`` whose compressed form fits is used.
    """
    data = bytearray(path.read_bytes())
    for content in changes(gzip.decompress(bytes(data[offset:offset + length]))):
        member = _member_of_length(content, length)
        if member is not None:
            data[offset:offset + length] = member
            path.write_bytes(bytes(data))
            return
    raise AssertionError("no changed record fits in the old one's place")


def _member_of_length(content: bytes, length: int) -> bytes | None:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = packer.compress(content) + packer.flush()
    trailer = struct.pack("<II", zlib.crc32(content), len(content) & 0xFFFFFFFF)
    header = b"\x1f\x8b\x08\x10" + b"\x00" * 4 + b"\x02\xff"  # FCOMMENT, no mtime, max compression
    padding = length - len(header) - len(body) - len(trailer) - 1
    if padding < 0:
        return None
    return header + b" " * padding + b"\x00" + body + trailer


def flip_in_body(marker: bytes) -> Callable[[bytes], Iterator[bytes]]:
    """Records with one letter of the HTTP body changed, from ``marker`` on; headers untouched."""
    def changes(record: bytes) -> Iterator[bytes]:
        start = record.index(marker, record.index(b"\r\n\r\n", record.index(b"\r\n\r\n") + 4))
        for at in range(start, len(record)):
            if chr(record[at]).isalpha():
                flipped = bytearray(record)
                flipped[at] ^= 0x20  # the letter changes case
                yield bytes(flipped)
    return changes


# ------------------------------------------------------------------ a clean archive


def test_the_archive_of_real_passes_verifies(archived: Archived) -> None:
    kinds = {c.record_type for c in archived.captures()}
    assert {"response", "revisit", "metadata"} <= kinds  # every kind of record is covered
    report = archived.verify()
    assert report.problems == []
    with_request = sum(1 for c in archived.stored() if c.request_length)
    assert report.records == len(archived.stored()) + with_request
    assert len(report.files) == 3 and report.summary().endswith("all good")

    result = run_cli(archived.home.settings.home, "verify")
    assert result.code == 0, result.out + result.err
    assert result.out.strip() == f"verified {report.records} records in 3 files: all good"


# ------------------------------------------------------------------ damage, found by capture


def test_a_changed_byte_in_a_payload_is_altered(archived: Archived) -> None:
    victim = archived.capture("apnews", "response", last=True)
    assert victim.warc_file and victim.warc_offset is not None and victim.warc_length
    rewrite_member(archived.warc_dir / victim.warc_file, victim.warc_offset, victim.warc_length,
                   flip_in_body(b"Minister"))

    report = archived.verify()
    assert problems_of(report) == {("altered", victim.id)}
    [problem] = report.problems
    assert "digest" in problem.message and problem.file == victim.warc_file
    assert problem.offset == victim.warc_offset and problem.source_id == archived.sources["apnews"]

    result = run_cli(archived.home.settings.home, "verify", "--json")
    assert result.code == 1
    [line] = result.out.splitlines()
    reported = json.loads(line)
    assert reported["kind"] == "altered" and reported["capture_id"] == victim.id
    assert "1 problems (1 altered)" in result.err


def test_bit_rot_in_the_compressed_bytes_is_found(archived: Archived) -> None:
    victim = archived.capture("cnn", "response")
    assert victim.warc_file and victim.warc_offset is not None and victim.warc_length
    path = archived.warc_dir / victim.warc_file
    data = bytearray(path.read_bytes())
    data[victim.warc_offset + victim.warc_length // 2] ^= 0x01
    path.write_bytes(bytes(data))

    report = archived.verify()
    by_capture = {(kind, cid) for kind, cid in problems_of(report) if cid is not None}
    assert len(by_capture) == 1
    [(kind, cid)] = by_capture
    assert cid == victim.id and kind in ("altered", "unreadable")
    assert {p.file for p in report.problems} == {victim.warc_file}  # the file scan agrees, no more


def test_a_truncated_file_loses_exactly_the_records_past_the_cut(archived: Archived) -> None:
    first_pass = archived.stored()[:3]
    name = first_pass[0].warc_file
    assert name and all(c.warc_file == name for c in first_pass)
    middle = first_pass[1]
    assert middle.warc_offset is not None and middle.warc_length
    cut = middle.warc_offset + middle.warc_length // 2
    with open(archived.warc_dir / name, "r+b") as fh:
        fh.truncate(cut)

    report = archived.verify()
    lost = {c.id for c in first_pass if record_end(c) > cut}
    assert lost == {c.id for c in first_pass[1:]}
    assert problems_of(report) == {("missing", cid) for cid in lost} | {("unreadable", None)}
    [torn] = [p for p in report.problems if p.capture_id is None]
    assert torn.file == name and torn.offset == middle.warc_offset  # the scan stops where the cut is


def test_a_deleted_file_makes_its_captures_missing(archived: Archived) -> None:
    second_pass = [c for c in archived.stored() if c.warc_file == archived.stored()[3].warc_file]
    assert len(second_pass) == 3
    (archived.warc_dir / str(second_pass[0].warc_file)).unlink()

    report = archived.verify()
    assert problems_of(report) == {("missing", c.id) for c in second_pass}
    assert all("does not exist" in p.message for p in report.problems)


def test_a_row_pointing_past_the_end_of_its_file(archived: Archived) -> None:
    victim = archived.capture("reuters", "revisit")
    assert victim.id and victim.warc_file
    size = (archived.warc_dir / victim.warc_file).stat().st_size
    archived.update(victim.id, warc_offset=size + 100)

    report = archived.verify()
    assert problems_of(report) == {("missing", victim.id)}
    assert f"the file ends at {size}, before the record starts" in report.problems[0].message


def test_a_row_pointing_at_another_record_is_altered(archived: Archived) -> None:
    victim, other = archived.capture("apnews", "response"), archived.capture("cnn", "response")
    assert victim.id
    archived.update(victim.id, warc_offset=other.warc_offset, warc_length=other.warc_length)

    report = archived.verify()
    assert problems_of(report) == {("altered", victim.id)}
    assert str(other.record_id) in report.problems[0].message


def test_references_that_lead_nowhere_are_dangling(archived: Archived) -> None:
    compact = archived.capture("cnn", "metadata")
    assert compact.id
    archived.update(compact.id, refers_to_capture_id=999_999)
    with session(archived.home.engine) as db:
        version = db.exec(select(Version).where(col(Version.source_id) == archived.sources["apnews"])
                          ).first()
        assert version is not None
        version.capture_id = 888_888
        db.commit()

    report = archived.verify()
    assert ("dangling", compact.id) in problems_of(report)
    assert all(p.kind == "dangling" for p in report.problems)
    [lost_version] = [p for p in report.problems if p.capture_id is None]
    assert "capture 888888, which does not exist" in lost_version.message
    assert lost_version.source_id == archived.sources["apnews"]


def test_only_the_chosen_sources_are_verified(archived: Archived) -> None:
    victim = archived.capture("apnews", "response")
    assert victim.id and victim.warc_file
    archived.update(victim.id, warc_offset=10**9)
    home = archived.home.settings.home

    assert archived.verify([archived.sources["cnn"]]).problems == []
    assert problems_of(archived.verify([archived.sources["apnews"]])) == {("missing", victim.id)}
    result = run_cli(home, "verify", "--source", str(archived.sources["cnn"]))
    assert result.code == 0 and "all good" in result.out
    result = run_cli(home, "verify", "--source", "https://nowhere.example/")
    assert result.code == 2 and "Traceback" not in result.err


# ------------------------------------------------------------------ the files end to end


def test_a_torn_tail_no_row_points_to_is_reported_by_file(archived: Archived) -> None:
    last = archived.stored()[-1]
    path = archived.warc_dir / str(last.warc_file)
    size = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n")[:30])

    report = archived.verify()
    assert problems_of(report) == {("unreadable", None)}
    [torn] = report.problems
    assert torn.file == path.name and torn.offset == size


def test_the_file_a_running_monitor_writes_is_not_a_problem(archived: Archived) -> None:
    last = archived.stored()[-1]
    path = archived.warc_dir / str(last.warc_file)
    with open(path, "ab") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # as the writer holds it
        fh.write(b"\x1f\x8b\x08\x00half a record")
        fh.flush()
        report = archived.verify()
    assert report.problems == []
    assert [f.kind for f in report.findings] == ["writing"]


def test_a_file_no_row_points_to_is_information(archived: Archived) -> None:
    first = archived.stored()[0]
    orphan = archived.warc_dir / "monitor-20250101T000000000000-1-abcd.warc.gz"
    orphan.write_bytes((archived.warc_dir / str(first.warc_file)).read_bytes())

    report = archived.verify()
    assert report.problems == []
    [note] = report.findings
    assert note.kind == "unreferenced" and note.file == orphan.name
    result = run_cli(archived.home.settings.home, "verify")
    assert result.code == 0 and "unreferenced" in result.out and orphan.name in result.out


def test_verify_on_an_empty_home(home_dir: Path) -> None:
    result = run_cli(home_dir, "verify")
    assert result.code == 0
    assert result.out.strip() == "verified 0 records in 0 files: all good"
