"""The WARC reader survives broken files: one clear line per bad record, never a crash.

Runs over every file of ``shared/corpus/warc-samples/`` (warcio's own test files:
truncated, bad digest, wrong chunking, spaces in URIs, ARC, non-gzip), over our own
files, and over randomly damaged copies of both (seeded; ``MONITOR_FUZZ_SEED`` replays).
"""

from __future__ import annotations

import os
import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.archive.reader import ReadError, RecordInfo, UnreadableFile, iter_records, read_record
from monitor.archive.warc import Stored, WarcArchive
from tests.conftest import SHARED, run_cli, shared
from tests.test_capture import exchange

SAMPLES = SHARED / "corpus" / "warc-samples"
FUZZ_SEED = os.environ.get("MONITOR_FUZZ_SEED")  # read on import: the test env fixture clears MONITOR_*
names = sorted(p.name for p in SAMPLES.iterdir()) if SAMPLES.is_dir() else []


def sample(name: str) -> Path:
    return shared(f"corpus/warc-samples/{name}")


def read_all(path: Path) -> list[RecordInfo | ReadError]:
    return list(iter_records(path))


def bad(found: list[RecordInfo | ReadError]) -> list[RecordInfo | ReadError]:
    return [f for f in found if isinstance(f, ReadError) or f.problems]


def test_the_samples_are_there() -> None:
    """Fails under CI=true when shared/ is missing, instead of silently skipping the samples."""
    assert len(list(shared("corpus/warc-samples").iterdir())) >= 10


@pytest.mark.parametrize("name", names)
def test_every_sample_is_read_to_the_end_without_a_crash(name: str) -> None:
    path = sample(name)
    found = read_all(path)
    assert found
    for item in found:
        line = item.line()
        assert "\n" not in line and line.startswith(f"{name}@{item.offset}: ")
        assert 0 <= item.offset <= path.stat().st_size
    offsets = [item.offset for item in found]
    assert offsets == sorted(offsets)


@pytest.mark.parametrize("name", ["example.warc", "example.warc.gz", "example.arc", "example.arc.gz",
                                  "example-iana.org-chunked.warc", "example-resource.warc.gz",
                                  "post-test.warc.gz", "example-wget-bad-target-uri.warc.gz"])
def test_good_files_read_sound(name: str) -> None:
    found = read_all(sample(name))
    assert bad(found) == []
    assert any(isinstance(f, RecordInfo) and f.digest == "ok" for f in found) or "arc" in name


def test_a_bad_digest_is_reported_on_its_record() -> None:
    found = read_all(sample("example-digest.warc"))
    [broken] = bad(found)
    assert isinstance(broken, RecordInfo)
    assert broken.offset == 0 and broken.digest == "failed" and not broken.damaged
    assert "payload digest failed" in broken.line()
    assert [f.digest for f in found if isinstance(f, RecordInfo)] == ["failed", "ok", "ok", "ok"]


def test_a_truncated_record_is_reported_and_the_next_one_still_read() -> None:
    found = read_all(sample("example-trunc.warc"))
    [broken] = bad(found)
    assert isinstance(broken, RecordInfo) and broken.damaged
    assert broken.offset == 1197 and broken.record_type == "response"
    assert "truncated" in broken.line()
    assert [f.record_type for f in found if isinstance(f, RecordInfo)][-1] == "request"


def test_wrong_chunking_is_reported_and_reading_goes_on() -> None:
    found = read_all(sample("example-wrong-chunks.warc.gz"))
    assert len(found) >= 2
    assert "cut short" in found[0].line()
    assert any(isinstance(f, ReadError) and f.offset > 0 for f in found)


@pytest.mark.parametrize("name", ["example-bad-non-chunked.warc.gz", "example-bad.warc.gz.bad"])
def test_a_single_gzip_stream_is_named_for_what_it_is(name: str) -> None:
    errors = [f for f in read_all(sample(name)) if isinstance(f, ReadError)]
    assert any("one gzip stream" in e.message and "warcio recompress" in e.message for e in errors)


def test_spaces_in_a_target_uri_are_a_note_not_a_problem() -> None:
    [_, resource] = read_all(sample("example-space-in-target-uri.warc.gz"))
    assert isinstance(resource, RecordInfo) and resource.sound
    assert resource.target_uri == "file:///example%20with%20spaces.png"
    assert "has spaces" in resource.notes[0]


def test_a_file_that_is_no_archive() -> None:
    [error] = read_all(sample("LICENSE"))
    assert isinstance(error, ReadError) and error.offset == 0
    assert "not a WARC or ARC file" in error.message


def test_a_file_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match=r"missing\.warc\.gz: cannot open"):
        read_all(tmp_path / "missing.warc.gz")


# ------------------------------------------------------------------ our own files


def own_file(directory: Path) -> tuple[Path, list[Stored]]:
    with WarcArchive(directory, fsync=False) as arc:
        first = arc.write_response(exchange("https://n.example.org/a"))
        stored = [first,
                  arc.write_revisit(exchange("https://n.example.org/a"), refers_to=first,
                                    refers_to_uri="https://n.example.org/a",
                                    refers_to_date=exchange().fetched_at - timedelta(hours=1)),
                  arc.write_metadata(exchange("https://n.example.org/a", body=b"<p>churned</p>"),
                                     refers_to=first, about={"http-status": "200"})]
    return directory / first.response.file, stored


def test_our_own_records_read_sound_and_are_found_where_we_wrote_them(tmp_path: Path) -> None:
    path, stored = own_file(tmp_path)
    found = read_all(path)
    assert bad(found) == []
    assert [f.record_type for f in found if isinstance(f, RecordInfo)] == [
        "warcinfo", "response", "request", "revisit", "request", "metadata"]
    for item in stored:
        one = read_record(path, item.response.offset, item.response.length)
        assert isinstance(one, RecordInfo) and one.sound
        assert one.record_id == item.record_id and one.offset == item.response.offset
    response = read_record(path, stored[0].response.offset, stored[0].response.length)
    assert isinstance(response, RecordInfo) and response.computed_digest == stored[0].payload_digest


def test_a_slice_holding_two_records_is_not_one_record(tmp_path: Path) -> None:
    path, stored = own_file(tmp_path)
    ref, request = stored[0].response, stored[0].request
    assert request is not None
    both = read_record(path, ref.offset, ref.length + request.length)
    assert isinstance(both, RecordInfo) and not both.sound
    half = read_record(path, ref.offset, ref.length // 2)
    assert isinstance(half, ReadError) or not half.sound


# ------------------------------------------------------------------ random damage


def damage(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One kind of storage failure, at a random place."""
    buf = bytearray(data)
    kind = rng.choice(["cut", "flip", "insert", "repeat", "zero"])
    at = rng.randrange(len(buf))
    if kind == "cut":
        del buf[at:]
    elif kind == "flip":
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        buf[at:at] = rng.randbytes(rng.randint(1, 64))
    elif kind == "repeat":
        buf[at:at] = buf[rng.randrange(len(buf)):][:rng.randint(1, 400)]
    else:
        buf[at:at + rng.randint(1, 512)] = bytes(min(512, len(buf) - at))
    return bytes(buf), f"{kind} at {at}"


def test_randomly_damaged_files_never_crash_the_reader(tmp_path: Path) -> None:
    seed = int(FUZZ_SEED or random.randrange(1 << 32))
    print(f"reader fuzz seed {seed}")
    rng = random.Random(seed)
    own, _ = own_file(tmp_path / "own")
    sources = [own, *(SAMPLES / n for n in names if n != "LICENSE")]
    for round_ in range(300):
        source = rng.choice(sources)
        data, what = damage(source.read_bytes(), rng)
        target = tmp_path / source.name
        target.write_bytes(data)
        context = f"seed {seed}, round {round_}: {source.name}, {what}"
        for item in read_all(target):
            assert "\n" not in item.line(), context
            assert item.line().startswith(f"{source.name}@"), context
        offset = rng.randrange(len(data) + 1)
        read_record(target, offset, rng.randint(1, len(data) + 10))


# ------------------------------------------------------------------ monitor verify FILE


def test_verify_files_from_elsewhere(tmp_path: Path) -> None:
    files = [sample(n) for n in ("example.warc.gz", "example-digest.warc", "example-trunc.warc")]
    for path in files:
        shutil.copy(path, tmp_path / path.name)
    result = run_cli(tmp_path, "verify", *(p.name for p in files), "missing.warc")
    assert result.code == 1 and "Traceback" not in result.err
    lines = result.out.splitlines()
    assert lines[-1] == "read 14 records in 4 files: 3 problems (1 altered, 2 unreadable)"
    assert any(line.startswith("altered    example-digest.warc@0: request http://example.com/: "
                               "payload digest failed") for line in lines)
    assert any(line.startswith("unreadable example-trunc.warc@1197: response") for line in lines)
    assert any("missing.warc: cannot open" in line for line in lines)

    good = run_cli(tmp_path, "verify", "example.warc.gz")
    assert good.code == 0 and good.out.strip() == "read 6 records in 1 files: all good"
    both = run_cli(tmp_path, "verify", "example.warc.gz", "--source", "1")
    assert both.code == 2 and "cannot be combined" in both.err
