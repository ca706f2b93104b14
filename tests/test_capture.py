"""The WARC archive: what is written opens in warcio's tools and reads back exactly."""

from __future__ import annotations

import base64
import gzip
import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from monitor.archive.warc import (
    ArchiveError,
    RecordRef,
    Stored,
    WarcArchive,
    payload_digest,
    scan_warc,
)
from monitor.exchange import HttpExchange, HttpRequest
from tests.conftest import SHARED, shared

SAMPLES = SHARED / "corpus" / "warc-samples"
WHEN = datetime(2025, 1, 14, 12, 0, 0, 123456, tzinfo=UTC)
HTML = b"<html><head><title>Minister resigns</title></head><body><p>Lede.</p></body></html>"


def exchange(
    url: str = "https://news.example.org/2025/01/minister-resigns?ref=rss",
    body: bytes = HTML,
    *,
    status: int = 200,
    reason: str = "OK",
    when: datetime = WHEN,
    http_version: str = "HTTP/1.1",
) -> HttpExchange:
    request = HttpRequest(
        "GET",
        url,
        [
            ("Host", "news.example.org"),
            ("User-Agent", "source-monitor/0.1 (+https://monitor.example/contact)"),
            ("Accept", "text/html,*/*;q=0.8"),
            ("Accept-Encoding", "gzip, deflate, br"),
        ],
    )
    headers = [
        ("Date", "Tue, 14 Jan 2025 12:00:00 GMT"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("ETag", '"5f2b-1736856000"'),
        ("Last-Modified", "Tue, 14 Jan 2025 11:58:00 GMT"),
        ("Cache-Control", "public, max-age=60"),
        ("X-Archive-Orig-Content-Encoding", "gzip"),
    ]
    return HttpExchange(
        request,
        status,
        reason,
        headers,
        body,
        when,
        42,
        http_version=http_version,
        remote_ip="203.0.113.7",
    )


def warcio_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "warcio.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def assert_warcio_check(*files: Path) -> None:
    result = warcio_cli("check", "-v", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "digest failed" not in result.stdout and "ArchiveLoadFailed" not in result.stdout
    assert "WARNING" not in result.stderr


def index(path: Path) -> list[dict[str, str]]:
    result = warcio_cli("index", "-f", "offset,length,warc-type,warc-target-uri", path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [json.loads(line) for line in result.stdout.splitlines()]


def warc_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.warc.gz"))


def records(data: bytes) -> list[dict[str, str]]:
    return [dict(r.rec_headers.headers) for r in ArchiveIterator(BytesIO(data))]


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[WarcArchive]:
    with WarcArchive(tmp_path / "warc", fsync=False) as arc:
        yield arc


# -- round trip -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [HTML, bytes(range(256)) * 300 + b"\r\n\r\n\x00", b""],
    ids=["html", "binary", "empty"],
)
def test_response_round_trip(archive: WarcArchive, body: bytes) -> None:
    ex = exchange(body=body)
    stored = archive.write_response(ex)

    assert archive.read_payload(stored.response) == body
    status, headers, got = archive.read_http(stored.response)
    assert (status, headers, got) == (200, ex.headers, body)
    assert stored.payload_digest == payload_digest(body)
    assert stored.request is not None and stored.request.file == stored.response.file


def test_records_carry_standard_headers(archive: WarcArchive) -> None:
    ex = exchange()
    stored = archive.write_response(ex)
    assert stored.request is not None
    resp = records(archive.read_raw(stored.response))[0]
    req = records(archive.read_raw(stored.request))[0]

    assert resp["WARC-Record-ID"] == stored.record_id
    assert resp["WARC-Target-URI"] == req["WARC-Target-URI"] == ex.url
    assert resp["WARC-Date"] == req["WARC-Date"] == "2025-01-14T12:00:00.123456Z"
    assert resp["WARC-IP-Address"] == "203.0.113.7"
    assert resp["WARC-Concurrent-To"] == req["WARC-Record-ID"]
    assert req["WARC-Concurrent-To"] == stored.record_id
    assert resp["WARC-Payload-Digest"] == payload_digest(HTML)


def test_http2_exchange_is_stored_with_http1_status_line(archive: WarcArchive) -> None:
    stored = archive.write_response(exchange(http_version="HTTP/2", reason=""))
    raw = archive.read_raw(stored.response)
    assert records(raw)[0]["WARC-Protocol"] == "h2"
    assert archive.read_http(stored.response)[0] == 200
    assert_warcio_check(archive.directory / stored.response.file)


def test_written_files_pass_warcio_check_and_index(archive: WarcArchive) -> None:
    urls = [f"https://news.example.org/story/{i}" for i in range(3)]
    for url in urls:
        archive.write_response(exchange(url))
    archive.close()

    [path] = warc_files(archive.directory)
    assert_warcio_check(path)
    rows = index(path)
    assert [r["warc-type"] for r in rows] == ["warcinfo"] + ["response", "request"] * 3
    assert [r["warc-target-uri"] for r in rows if r["warc-type"] == "response"] == urls


# -- revisits ---------------------------------------------------------------------------


def test_revisit_is_small_and_points_at_the_original(archive: WarcArchive) -> None:
    page = random.Random(7).randbytes(20_000)  # does not compress: costs ~20 KB stored
    first = archive.write_response(exchange(body=page))
    later = exchange(body=page, when=datetime(2025, 1, 15, tzinfo=UTC))
    revisit = archive.write_revisit(
        later, refers_to=first, refers_to_uri=later.url, refers_to_date=WHEN
    )
    assert revisit.request is not None

    assert first.response.length > 20_000
    assert revisit.response.length < 1024, revisit.response.length
    # the request record written with it is about as big again (~470 bytes here)
    assert revisit.response.length + revisit.request.length < 1536
    fields = records(archive.read_raw(revisit.response))[0]
    assert fields["WARC-Type"] == "revisit"
    assert fields["WARC-Refers-To"] == first.record_id
    assert fields["WARC-Refers-To-Target-URI"] == later.url
    assert fields["WARC-Refers-To-Date"] == "2025-01-14T12:00:00.123456Z"
    assert fields["WARC-Payload-Digest"] == first.payload_digest == revisit.payload_digest
    assert fields["WARC-Profile"].endswith("/revisit/identical-payload-digest")
    assert archive.read_http(revisit.response)[:2] == (200, later.headers)
    with pytest.raises(ArchiveError, match="revisit"):
        archive.read_payload(revisit.response)
    archive.close()
    path = archive.directory / revisit.response.file
    assert_warcio_check(path)
    assert [r["warc-type"] for r in index(path)][-2:] == ["revisit", "request"]


def test_not_modified_revisit(archive: WarcArchive) -> None:
    first = archive.write_response(exchange())
    not_modified = exchange(body=b"", status=304, reason="Not Modified")
    revisit = archive.write_revisit(
        not_modified,
        refers_to=first,
        refers_to_uri=not_modified.url,
        refers_to_date=WHEN,
        profile="server-not-modified",
    )
    fields = records(archive.read_raw(revisit.response))[0]
    assert fields["WARC-Profile"].endswith("/revisit/server-not-modified")
    assert fields["WARC-Payload-Digest"] == first.payload_digest
    status, headers, _ = archive.read_http(revisit.response)
    assert status == 200, "replay tools serve a revisit's own status: it must be the original's"
    assert ("X-Archive-Orig-Status", "304 Not Modified") in headers
    assert dict(headers)["Content-Length"] == str(len(HTML))
    archive.close()
    assert_warcio_check(archive.directory / revisit.response.file)


def not_modified_revisit(archive: WarcArchive, first: Stored) -> list[tuple[str, str]]:
    """The headers of a 304 revisit of ``first`` written to ``archive``, as read back."""
    not_modified = exchange(body=b"", status=304, reason="Not Modified")
    revisit = archive.write_revisit(not_modified, refers_to=first, refers_to_uri=not_modified.url,
                                    refers_to_date=WHEN, profile="server-not-modified")
    status, headers, _ = archive.read_http(revisit.response)
    assert status == 200 and ("X-Archive-Orig-Status", "304 Not Modified") in headers
    return headers


@pytest.mark.parametrize(("header_bytes", "full_reads"), [(20_000, 0), (70_000, 1)],
                         ids=["read-on", "past-the-limit"])
def test_not_modified_revisit_of_a_response_with_large_headers(
    archive: WarcArchive, monkeypatch: pytest.MonkeyPatch, header_bytes: int, full_reads: int
) -> None:
    """Headers that do not end in the first read are read on (20 KB of them, ~15 KB
    compressed); past what is inflated for headers (64 KiB), the whole record is read."""
    rng = random.Random(3)
    noise = base64.b64encode(rng.randbytes(header_bytes * 3 // 4)).decode("ascii")
    page = rng.randbytes(100_000)
    base = exchange(body=page)
    big = [*base.headers, ("X-Trace", noise), *((f"X-Edge-{n}", f"pop-{n}") for n in range(100))]
    first = archive.write_response(HttpExchange(base.request, 200, "OK", big, page, WHEN, 1))
    loads: list[RecordRef] = []
    full = archive._load
    monkeypatch.setattr(archive, "_load", lambda ref: loads.append(ref) or full(ref))

    headers = not_modified_revisit(archive, first)
    assert ("X-Trace", noise) in headers and ("X-Edge-99", "pop-99") in headers
    assert dict(headers)["Content-Length"] == str(len(page))
    assert len([ref for ref in loads if ref == first.response]) == full_reads


class Bucket:
    """The Storage protocol over a dict of uploaded files, read by range as ObjectStore does."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: list[tuple[str, int, int]] = []

    def read(self, name: str, offset: int, length: int) -> bytes:
        self.reads.append((name, offset, length))
        return self.objects[name][offset:offset + length]

    def closed(self, name: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def upload(self, spool: Path) -> None:
        for path in warc_files(spool):
            self.objects[path.name] = path.read_bytes()
            path.unlink()


def test_not_modified_revisit_of_a_response_only_in_object_storage(tmp_path: Path) -> None:
    bucket = Bucket()
    page = random.Random(5).randbytes(100_000)
    with WarcArchive(tmp_path, fsync=False, storage=bucket) as arc:
        first = arc.write_response(exchange(body=page))
    bucket.upload(tmp_path)

    with WarcArchive(tmp_path, fsync=False, storage=bucket) as arc:
        headers = not_modified_revisit(arc, first)
    assert dict(headers)["Content-Length"] == str(len(page))
    assert dict(headers)["ETag"] == '"5f2b-1736856000"'
    [(name, offset, length)] = bucket.reads  # the start of the record, not its 100 KB
    ref = first.response
    assert (name, offset) == (ref.file, ref.offset) and length < 8192 < ref.length


def test_revisit_refuses_a_payload_that_changed(archive: WarcArchive) -> None:
    first = archive.write_response(exchange())
    churned = exchange(body=HTML.replace(b"Lede", b"Lead"))
    with pytest.raises(ValueError, match="identical"):
        archive.write_revisit(
            churned, refers_to=first, refers_to_uri=churned.url, refers_to_date=WHEN
        )
    with pytest.raises(ValueError, match="304"):
        archive.write_revisit(
            churned,
            refers_to=first,
            refers_to_uri=churned.url,
            refers_to_date=WHEN,
            profile="server-not-modified",
        )


# -- files: rotation, several writers -------------------------------------------------


def test_rotation_by_size(tmp_path: Path) -> None:
    with WarcArchive(tmp_path, max_file_bytes=3000) as arc:  # fsync on, the default
        stored = [arc.write_response(exchange(body=bytes(range(256)) * 8)) for _ in range(6)]

    files = warc_files(tmp_path)
    assert len(files) >= 3
    in_write_order = list(dict.fromkeys(s.response.file for s in stored))
    assert in_write_order == [p.name for p in files]  # names sort by time
    for path in files:
        assert index(path)[0]["warc-type"] == "warcinfo"
    assert_warcio_check(*files)
    for s in stored:
        assert arc.read_payload(s.response) == bytes(range(256)) * 8


def test_two_archives_in_one_directory_write_side_by_side(tmp_path: Path) -> None:
    barrier = threading.Barrier(2)
    results: dict[str, list[Stored]] = {}

    def writer(name: str) -> None:
        with WarcArchive(tmp_path, max_file_bytes=20_000, fsync=False) as arc:
            barrier.wait()
            urls = [f"https://{name}.example.org/{i}" for i in range(40)]
            results[name] = [arc.write_response(exchange(url, url.encode() * 40)) for url in urls]

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    files_a = {s.response.file for s in results["a"]}
    files_b = {s.response.file for s in results["b"]}
    assert files_a and files_b and not files_a & files_b
    reader = WarcArchive(tmp_path)
    for name, stored in results.items():
        for i, s in enumerate(stored):
            assert (
                reader.read_payload(s.response) == f"https://{name}.example.org/{i}".encode() * 40
            )
    for path in warc_files(tmp_path):  # each file holds one writer's records only
        hosts = {
            r["warc-target-uri"].split("/")[2] for r in index(path) if r["warc-type"] != "warcinfo"
        }
        assert len(hosts) == 1
    assert_warcio_check(*warc_files(tmp_path))


WRITER_SCRIPT = """
import sys
from datetime import datetime, UTC
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from monitor.archive.warc import WarcArchive
from monitor.exchange import HttpExchange, HttpRequest
with WarcArchive(Path(sys.argv[1]), fsync=False) as arc:
    for i in range(25):
        url = f"https://{sys.argv[2]}.example.org/{i}"
        ex = HttpExchange(HttpRequest("GET", url, []), 200, "OK", [], url.encode(),
                          datetime.now(UTC), 1)
        s = arc.write_response(ex)
        print(s.response.file, s.response.offset, s.response.length, url)
"""


def test_two_processes_write_side_by_side(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(tmp_path), name, root],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]

    reader = WarcArchive(tmp_path)
    files = [{line.split()[0] for line in out.splitlines()} for out in outputs]
    assert len(files[0]) == len(files[1]) == 1 and files[0] != files[1]
    for out in outputs:
        for line in out.splitlines():
            name, offset, length, url = line.split()
            assert reader.read_payload(RecordRef(name, int(offset), int(length))) == url.encode()
    assert_warcio_check(*warc_files(tmp_path))


# -- crash safety ---------------------------------------------------------------------


def write_three(directory: Path) -> tuple[Path, list[Stored]]:
    with WarcArchive(directory, fsync=False) as arc:
        stored = [arc.write_response(exchange(f"https://n.example.org/{i}")) for i in range(3)]
    return directory / stored[0].response.file, stored


def end_of(stored: Stored) -> int:
    assert stored.request is not None
    return stored.request.offset + stored.request.length


def test_recover_cuts_a_torn_last_record(tmp_path: Path) -> None:
    path, stored = write_three(tmp_path)
    torn_at = stored[2].response.offset + stored[2].response.length // 2
    with open(path, "r+b") as fh:
        fh.truncate(torn_at)

    arc = WarcArchive(tmp_path)
    [line] = arc.recover({})
    assert path.name in line and "cut" in line
    assert path.stat().st_size == stored[2].response.offset
    for s in stored[:2]:
        assert arc.read_payload(s.response) == HTML
    assert_warcio_check(path)
    assert arc.recover({}) == []


def test_recover_cuts_appended_garbage(tmp_path: Path) -> None:
    path, stored = write_three(tmp_path)
    good_size = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(b"\x1f\x8b\x08\x00garbage")

    arc = WarcArchive(tmp_path)
    assert len(arc.recover({path.name: end_of(stored[1])})) == 1
    assert path.stat().st_size == good_size
    assert arc.read_payload(stored[2].response) == HTML
    assert_warcio_check(path)


def test_recover_with_committed_ends_skips_the_known_good_prefix(tmp_path: Path) -> None:
    path, stored = write_three(tmp_path)
    data = bytearray(path.read_bytes())
    data[stored[0].response.offset + 30] ^= 0xFF  # damage inside a committed record
    path.write_bytes(bytes(data) + b"junk")

    arc = WarcArchive(tmp_path)
    [line] = arc.recover({path.name: end_of(stored[2])})
    assert "cut 4 bytes" in line
    assert path.stat().st_size == end_of(stored[2])
    assert arc.read_payload(stored[2].response) == HTML

    [line] = arc.recover({})  # a full scan does find the damage
    assert f"offset {stored[0].response.offset}" in line


def test_recover_leaves_files_a_writer_holds(tmp_path: Path) -> None:
    writing = WarcArchive(tmp_path, fsync=False)
    stored = writing.write_response(exchange())
    path = tmp_path / stored.response.file
    with open(path, "ab") as fh:  # bytes of a record being written right now
        fh.write(b"\x1f\x8b\x08\x00partial")

    assert WarcArchive(tmp_path).recover({}) == []
    assert path.read_bytes().endswith(b"partial")
    writing.close()
    assert len(WarcArchive(tmp_path).recover({})) == 1
    assert not path.read_bytes().endswith(b"partial")


def test_recover_reports_a_file_shorter_than_the_database_thinks(tmp_path: Path) -> None:
    path, _ = write_three(tmp_path)
    size = path.stat().st_size
    [line] = WarcArchive(tmp_path).recover({path.name: size + 100})
    assert "less than the committed" in line
    assert path.stat().st_size == size


def test_a_failed_write_leaves_no_partial_record(archive: WarcArchive) -> None:
    good = archive.write_response(exchange())
    path = archive.directory / good.response.file
    size = path.stat().st_size
    ex = exchange()
    bad_request = HttpRequest("GET", ex.url, [("Ünicode-Name", "x")])  # cannot be encoded
    with pytest.raises(UnicodeEncodeError):
        archive.write_response(HttpExchange(bad_request, 200, "OK", [], b"x", WHEN, 1))
    assert path.stat().st_size == size  # the response written before the failure is cut
    after = archive.write_response(exchange())
    assert after.response.offset == size and archive.read_payload(after.response) == HTML
    archive.close()
    assert_warcio_check(path)


def test_recover_only_reports_files_it_did_not_write(tmp_path: Path) -> None:
    foreign = tmp_path / "imported.warc.gz"
    foreign.write_bytes(b"not gzip at all")
    [line] = WarcArchive(tmp_path).recover({})
    assert "imported.warc.gz" in line and "left unchanged" in line
    assert foreign.read_bytes() == b"not gzip at all"


def test_torn_record_reads_as_archive_error(tmp_path: Path) -> None:
    path, stored = write_three(tmp_path)
    with open(path, "r+b") as fh:
        fh.truncate(stored[2].response.offset + stored[2].response.length - 5)
    arc = WarcArchive(tmp_path)
    with pytest.raises(ArchiveError):
        arc.read_payload(stored[2].response)
    with pytest.raises(ArchiveError):
        arc.read_payload(RecordRef(stored[2].response.file, stored[2].response.offset, 40))
    with pytest.raises(ArchiveError):
        arc.read_payload(RecordRef(stored[0].response.file, -1, 10))
    with pytest.raises(ArchiveError):
        arc.read_payload(RecordRef("../etc/passwd", 0, 10))
    with pytest.raises(ArchiveError):
        arc.read_payload(RecordRef("missing.warc.gz", 0, 10))


# -- re-packaging -----------------------------------------------------------------------


def test_raw_members_form_a_valid_warc(archive: WarcArchive, tmp_path: Path) -> None:
    stored = archive.write_response(exchange())
    assert stored.request is not None
    package = tmp_path / "export.warc.gz"
    package.write_bytes(archive.read_raw(stored.request) + archive.read_raw(stored.response))

    assert_warcio_check(package)
    assert {r["warc-target-uri"] for r in index(package)} == {exchange().url}


# -- other tools' files, good and broken ------------------------------------------------


samples = sorted(SAMPLES.glob("*")) if SAMPLES.is_dir() else []


def test_the_broken_warc_samples_are_read() -> None:
    """Fails under CI=true when shared/ is missing, instead of silently skipping the samples."""
    assert any(shared("corpus/warc-samples").iterdir())


@pytest.mark.parametrize("path", samples, ids=[p.name for p in samples])
def test_reader_and_scanner_report_broken_input(path: Path) -> None:
    scan = scan_warc(path)
    assert scan.end <= scan.size
    assert (scan.problem is None) == (scan.end == scan.size)
    reader = WarcArchive(path.parent)
    size = path.stat().st_size
    for offset in sorted({0, 1, size // 3, size // 2, max(size - 10, 0)}):
        try:
            reader.read_http(RecordRef(path.name, offset, size - offset))
        except ArchiveError as exc:
            assert path.name in str(exc)


def test_scanner_accepts_a_good_foreign_warc() -> None:
    path = shared("corpus/warc-samples/example.warc.gz")
    scan = scan_warc(path)
    assert scan.problem is None and scan.records == 6
    rows = index(path)
    [(offset, length)] = [
        (int(r["offset"]), int(r["length"])) for r in rows if r["warc-type"] == "response"
    ]
    status, _, body = WarcArchive(path.parent).read_http(RecordRef(path.name, offset, length))
    assert status == 200 and b"Example Domain" in gzip.decompress(body)  # stored as served


def test_records_are_the_bytes_warcio_would_write(archive: WarcArchive) -> None:
    """The writer serializes records itself (cheaper than warcio's builder); each record read
    back and written again by warcio's WARCWriter gives the same bytes, digests included."""
    from warcio.recordloader import ArcWarcRecordLoader
    from warcio.warcwriter import WARCWriter

    original = archive.write_response(exchange())
    odd = exchange()
    odd = HttpExchange(odd.request, 200, "", [*odd.headers, ("X-Name", "caf\xe9")], HTML, WHEN, 1,
                       remote_ip="10.1.2.3")
    stored = [
        original, archive.write_response(odd),
        archive.write_revisit(exchange(), refers_to=original, refers_to_uri=original_url(),
                              refers_to_date=WHEN),
        archive.write_revisit(exchange(status=304, body=b""), refers_to=original,
                              refers_to_uri=original_url(), refers_to_date=WHEN,
                              profile="server-not-modified"),
        archive.write_metadata(exchange(), refers_to=original, about={"Reason": "churn", "Ä": "ö"}),
    ]
    refs = [ref for s in stored for ref in (s.response, s.request) if ref is not None]
    assert len(refs) == 9
    loader = ArcWarcRecordLoader(verify_http=False, arc2warc=False)
    for ref in refs:
        ours = gzip.decompress(archive.read_raw(ref))
        again = BytesIO()
        WARCWriter(again, gzip=False, warc_version="WARC/1.1").write_record(
            loader.parse_record_stream(BytesIO(ours), known_format="warc"))
        assert again.getvalue() == ours
    archive.close()
    assert_warcio_check(archive.directory / original.response.file)


@pytest.mark.parametrize("engine", [("isal", 0), ("isal", 3), ("zlib", 1), ("zlib", 9)])
def test_each_gzip_engine_writes_members_any_inflater_reads(tmp_path: Path, engine: tuple[str, int]) -> None:
    """ISA-L (the default) and zlib at any of their levels: the same WARC, one standard gzip
    member per record, that Python's gzip, warcio and the archive's own reader all accept."""
    with WarcArchive(tmp_path, fsync=False, gzip=engine) as arc:
        stored = arc.write_response(exchange())
        assert arc.read_payload(stored.response) == HTML
    path = tmp_path / stored.response.file
    assert scan_warc(path).problem is None
    raw = path.read_bytes()[stored.response.offset:stored.response.offset + stored.response.length]
    assert b"\r\n\r\n" + HTML in gzip.decompress(raw)
    assert_warcio_check(path)


def original_url() -> str:
    return exchange().url
