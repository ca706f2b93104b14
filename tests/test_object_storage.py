"""WARC files on S3-compatible object storage (``archive.url``), against moto's S3 server on
127.0.0.1: records go to the local spool first, closed files are uploaded and leave the
spool, and restore, export and verify read them back from the bucket — the same bytes as
a local archive, one record by a ranged read, nothing lost while the bucket is down.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select
from warcio.archiveiterator import ArchiveIterator

from monitor.archive.storage import ObjectStore
from monitor.archive.warc import WarcArchive, scan_warc
from monitor.check import stored_of
from monitor.clock import ManualClock
from monitor.config import ConfigError
from monitor.exchange import HttpExchange, HttpRequest
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import Capture
from tests.archive_story import write_story
from tests.conftest import add_sources, one_pass, publish, run_cli
from tests.site import NewsSite

try:
    import boto3
    from moto.server import ThreadedMotoServer
except ImportError as exc:  # pragma: no cover - installed by .[test]
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"moto[server] is not installed ({exc}): pip install -e '.[test]'", allow_module_level=True)

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}


class CountingProxy:
    """A TCP forwarder to ``port`` that counts the bytes the server sends back to clients."""

    def __init__(self, port: int) -> None:
        self._upstream = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.received = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._upstream))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with self._lock:
                        self.received += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                sock.close()

    def close(self) -> None:
        self._listener.close()


class S3:
    """moto's S3 server on 127.0.0.1; its buckets outlive a stop and start on the same port."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    def stop(self) -> None:
        assert self._server is not None
        self._server.stop()
        self._server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> object:
        return boto3.client("s3", endpoint_url=self.endpoint, **{
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"})

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def objects(self, bucket: str, prefix: str) -> dict[str, bytes]:
        """Every object under ``prefix`` by its file name, with its bytes."""
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])  # type: ignore[attr-defined]
        return {item["Key"].rsplit("/", 1)[-1]: client.get_object(  # type: ignore[attr-defined]
            Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    server = S3()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)


def use_bucket(monkeypatch: pytest.MonkeyPatch, s3: S3, bucket: str, endpoint: str | None = None,
               **more: str) -> str:
    url = f"s3://{bucket}/warcs"
    monkeypatch.setenv("MONITOR_ARCHIVE__URL", url)
    monkeypatch.setenv("MONITOR_ARCHIVE__ENDPOINT_URL", endpoint or s3.endpoint)
    for key, value in more.items():
        monkeypatch.setenv(f"MONITOR_ARCHIVE__{key.upper()}", value)
    return url


def spooled(home: Home) -> list[Path]:
    return sorted(home.settings.warc_dir.glob("*.warc.gz"))


def captures(home: Home) -> list[Capture]:
    with session(home.engine) as db:
        return list(db.exec(select(Capture).order_by(col(Capture.id))).all())


def records_by_offset(data: bytes) -> dict[int, tuple[str, str, bool | None]]:
    """warcio's reading of a whole object: offset -> (type, record id, digests passed)."""
    found = {}
    iterator = ArchiveIterator(io.BytesIO(data), check_digests=True)
    for record in iterator:
        record.content_stream().read()
        found[iterator.get_record_offset()] = (
            record.rec_type, record.rec_headers.get_header("WARC-Record-ID"), record.digest_checker.passed)
    return found


def test_checks_spool_then_upload_and_warcio_reads_every_record_from_the_bucket(
    site: NewsSite, home_dir: Path, clock: ManualClock, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.bucket("checks")
    use_bucket(monkeypatch, s3, bucket, max_file_bytes="3000")  # small: files rotate by size
    home = open_home(home_dir)
    urls = [publish(site, "apnews", f"story-{n}") for n in range(3)]
    ids = add_sources(home, clock, *urls)
    one_pass(home, clock, ids)
    site.edit(urls[0], headline="The great social media migration")
    summary = one_pass(home, clock, ids)
    assert not summary.errors, summary.line()

    assert spooled(home) == []  # every file closed at the end of the pass, uploaded, removed
    objects = s3.objects(bucket, "warcs/")
    assert len(objects) >= 3, {k: len(v) for k, v in objects.items()}  # rotated by size
    rows = [c for c in captures(home) if c.record_type]
    assert rows and {c.warc_file for c in rows} <= set(objects)
    for name, data in objects.items():
        found = records_by_offset(data)
        assert len(found) == scan_warc_bytes(data, home_dir / name)
        assert all(passed is not False for _, _, passed in found.values()), name
    for capture in rows:
        kind, record_id, _ = records_by_offset(objects[capture.warc_file or ""])[capture.warc_offset or 0]
        assert (kind, record_id) == (capture.record_type, capture.record_id)
    verified = run_cli(home_dir, "verify")
    assert verified.code == 0 and "all good" in verified.out, verified.out + verified.err
    home.engine.dispose()


def scan_warc_bytes(data: bytes, scratch: Path) -> int:
    """Records in ``data`` by the archive's own strict scan (whole gzip members, lengths)."""
    scratch.write_bytes(data)
    try:
        scan = scan_warc(scratch)
        assert scan.problem is None, scan.problem
        return scan.records
    finally:
        scratch.unlink()


def test_restore_and_export_from_the_bucket_give_the_bytes_of_the_local_archive(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = write_story(tmp_path / "home")
    local = outputs(story.home_dir, tmp_path / "local")

    url = use_bucket(monkeypatch, s3, s3.bucket("restore"))
    home = open_home(story.home_dir)
    store = home.object_store()
    assert store is not None and store.url == url
    assert store.upload_closed() == [] and spooled(home) == []  # the spool is gone
    home.engine.dispose()
    remote = outputs(story.home_dir, tmp_path / "remote")

    assert remote == local
    assert sum(1 for name in local if name.startswith("warc/0")) == len(story.ids)
    assert sum(1 for name in local if name.startswith("html/0")) >= 3


def outputs(home_dir: Path, folder: Path) -> dict[str, tuple[int, bytes]]:
    """Restore every source as html and as warc, and export everything as WACZ (the real
    commands): each file's bytes, and each command's exit code."""
    found: dict[str, tuple[int, bytes]] = {}
    for form in ("html", "warc"):
        done = run_cli(home_dir, "restore", "--all", "--as", form, "-o", str(folder / form))
        found.update({f"{form}/{path.name}": (done.code, path.read_bytes())  # index.html: "generated <now>"
                      for path in sorted((folder / form).iterdir()) if path.name != "index.html"})
    wacz = folder / "all.wacz"
    done = run_cli(home_dir, "export", "-o", str(wacz))
    assert done.code == 0, done.err
    with zipfile.ZipFile(wacz) as package:  # its own warcinfo record differs (id, time, length)
        found["pages/pages.jsonl"] = (0, package.read("pages/pages.jsonl"))
        data, records = package.read("archive/data.warc.gz"), zlib.decompressobj(16 + zlib.MAX_WBITS)
        records.decompress(data)
        found["records after the export's warcinfo"] = (0, records.unused_data)
        head = len(data) - len(records.unused_data)
        lines = package.read("indexes/index.cdx").decode().splitlines()
        index = [json.loads(line.split(" ", 2)[2]) for line in lines]
        found["index, offsets after the warcinfo"] = (0, json.dumps(
            [{**entry, "offset": int(entry["offset"]) - head} for entry in index]).encode())
    return found


def test_an_unreachable_bucket_loses_nothing_and_the_next_start_uploads_even_a_crashed_file(
    site: NewsSite, home_dir: Path, clock: ManualClock, s3: S3, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = s3.bucket("down")
    url = use_bucket(monkeypatch, s3, bucket)
    home = open_home(home_dir)
    urls = [publish(site, "cnn", f"story-{n}") for n in range(2)]
    ids = add_sources(home, clock, *urls)
    s3.stop()
    try:
        with caplog.at_level(logging.WARNING, "monitor.archive.storage"):
            summary = one_pass(home, clock, ids)
    finally:
        s3.start()
    assert summary.checked == 2 and not summary.errors, summary.line()
    [kept] = spooled(home)  # the upload failed: the file stays, whole
    assert f"upload to {url} failed" in caplog.text and kept.name in caplog.text
    archive = home.open_archive()
    pages = dict(zip(ids, urls, strict=True))
    for capture in captures(home):
        assert capture.warc_file == kept.name
        assert archive.read_payload(stored_of(capture).response) == site.last_body(pages[capture.source_id])
    archive.close()  # a reader: closing it uploads nothing
    assert spooled(home) == [kept] and s3.objects(bucket, "warcs/") == {}

    whole = kept.read_bytes()
    with kept.open("ab") as fh:  # a crash in the middle of the next record
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03torn")
    done = run_cli(home_dir, "check")  # starts: repairs the torn file, uploads it, checks, uploads
    assert done.code == 0, done.err
    assert spooled(home) == []
    objects = s3.objects(bucket, "warcs/")
    assert objects[kept.name] == whole and len(objects) == 2
    verified = run_cli(home_dir, "verify")
    assert verified.code == 0 and "all good" in verified.out, verified.out + verified.err
    home.engine.dispose()


def exchange(url: str, body: bytes, when: datetime) -> HttpExchange:
    request = HttpRequest("GET", url, [("User-Agent", "test")])
    headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))]
    return HttpExchange(request, 200, "OK", headers, body, when, 5)


def test_one_record_is_a_ranged_read_not_the_whole_object(tmp_path: Path, s3: S3) -> None:
    bucket = s3.bucket("ranged")
    proxy = CountingProxy(s3.port)
    try:
        store = ObjectStore(f"s3://{bucket}/warcs", tmp_path, endpoint_url=f"http://127.0.0.1:{proxy.port}")
        when = datetime(2025, 1, 15, tzinfo=UTC)
        bodies = [bytes([n]) * 10 + os.urandom(40_000) for n in range(30)]  # incompressible
        with WarcArchive(tmp_path, fsync=False, storage=store) as archive:
            stored = [archive.write_response(exchange(f"http://127.0.0.1/{n}", body, when))
                      for n, body in enumerate(bodies)]
        [name] = {s.response.file for s in stored}
        assert not (tmp_path / name).exists()
        size = len(s3.objects(bucket, "warcs/")[name])
        assert size > 1_200_000

        reader = WarcArchive(tmp_path, storage=ObjectStore(
            f"s3://{bucket}/warcs", tmp_path, endpoint_url=f"http://127.0.0.1:{proxy.port}"))
        proxy.received = 0
        ref = stored[17].response
        assert reader.read_payload(ref) == bodies[17]
        print(f"one record of {ref.length} bytes from an object of {size}: "
              f"{proxy.received} bytes received")
        assert ref.length <= proxy.received < ref.length + 4096
    finally:
        proxy.close()


def test_a_file_open_too_long_is_closed_and_uploaded_in_the_background(tmp_path: Path, s3: S3) -> None:
    bucket = s3.bucket("aged")
    store = ObjectStore(f"s3://{bucket}/warcs", tmp_path, endpoint_url=s3.endpoint)
    archive = WarcArchive(tmp_path, fsync=False, storage=store, max_file_age=0.3)
    store.start(0.1, tick=archive.rotate_if_old)
    try:
        first = archive.write_response(exchange("http://127.0.0.1/a", b"first", datetime.now(UTC)))
        deadline = time.monotonic() + 20
        # no write, no close: the thread does it, and removes the spool copy after verifying
        # the upload, so the object can be listed a moment before the local file goes
        while (tmp_path / first.response.file).exists():
            assert time.monotonic() < deadline, "not uploaded in 20 s"
            time.sleep(0.05)
        assert first.response.file in s3.objects(bucket, "warcs/")
        second = archive.write_response(exchange("http://127.0.0.1/b", b"second", datetime.now(UTC)))
        assert second.response.file != first.response.file  # a new file after the upload
        assert archive.read_payload(first.response) == b"first"  # from the bucket
        assert archive.read_payload(second.response) == b"second"  # from the spool
    finally:
        archive.close()
    assert set(s3.objects(bucket, "warcs/")) == {first.response.file, second.response.file}


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("URL", "ftp2://bucket/warcs", "archive.url: unknown storage scheme 'ftp2'"),
    ("URL", "my-bucket/warcs", "archive.url: not a storage URL: 'my-bucket/warcs'"),
    ("ENDPOINT_URL", "http://127.0.0.1:9000", "archive: endpoint_url applies to an s3:// url only"),
])
def test_a_bad_storage_setting_is_one_line_naming_it(
    home_dir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(f"MONITOR_ARCHIVE__{variable}", value)
    with pytest.raises(ConfigError) as raised:
        open_home(home_dir)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_gc_refuses_an_archive_in_object_storage(home_dir: Path, s3: S3) -> None:
    env = {"MONITOR_ARCHIVE__URL": "s3://gc/warcs", "MONITOR_ARCHIVE__ENDPOINT_URL": s3.endpoint}
    done = run_cli(home_dir, "gc", env=env)
    assert done.code == 2
    assert done.err.strip() == ("error: monitor gc prunes a local archive only; archive.url is set "
                                "(s3://gc/warcs), so files are in object storage")
