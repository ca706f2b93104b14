"""WARC archive: every capture written as standard WARC 1.1, one gzip member per record.

Each process writes its own files (``monitor-<UTC time>-<pid>-<random>.warc.gz``),
holding an exclusive ``flock`` while it writes, so several writers share a directory
and ``recover()`` never truncates a file someone is still writing. A record is
flushed (and fsynced) before its :class:`Stored` reference is returned, so the
caller commits its database row only for bytes that are on disk.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO, Protocol, Self
from urllib.parse import urlsplit

from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from monitor.exchange import HttpExchange

WARC_VERSION = "WARC/1.1"
PROFILES = {
    "identical-payload-digest": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
    "server-not-modified": "http://netpreserve.org/warc/1.1/revisit/server-not-modified",
}
_CHUNK = 1 << 16  # read size, and how much of a record's start is kept for its header
_HEAD_STEP = 4096  # inflated at a time looking for the end of a record's headers
_HEAD_READ = 4096  # first read of a member for its headers (~1-2 KB inflated on news pages)
OWN_NAME = re.compile(r"monitor-(\d{8}T\d{12})-\d+-[0-9a-f]{4}\.warc\.gz")  # only these are cut or pruned
_LENGTH_RE = re.compile(rb"(?im)^content-length:[ \t]*(\d+)\s*$")
_LOADER = ArcWarcRecordLoader(verify_http=False, arc2warc=False)
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


class ArchiveError(Exception):
    """A record cannot be read: missing file, torn gzip member, not a WARC record."""


@dataclass(frozen=True)
class RecordRef:
    """Where one record lives: file name (relative to the archive), offset, length."""

    file: str
    offset: int
    length: int


@dataclass(frozen=True)
class Stored:
    """What a write stored (``payload_digest`` is "" for a 304 revisit of an unknown original)."""

    record_type: str
    record_id: str
    payload_digest: str
    response: RecordRef
    request: RecordRef | None


@dataclass(frozen=True)
class Scan:
    """Result of checking a file: ``end`` of the last good record, and what broke."""

    end: int
    records: int
    size: int
    problem: str | None


@dataclass
class _Segment:
    name: str
    fh: BinaryIO
    opened: float = field(default_factory=time.monotonic)
    unsynced: bool = False  # written and flushed, not yet fsynced (deferred sync)


class Storage(Protocol):
    """Where closed files go and where a record missing from ``directory`` is read
    (monitor/archive/storage.py: object storage through fsspec)."""

    def read(self, name: str, offset: int, length: int) -> bytes: ...

    def closed(self, name: str) -> None: ...

    def flush(self) -> None: ...


@lru_cache(maxsize=4)  # bodies can be large: only the checks in hand
def payload_digest(body: bytes) -> str:
    """``sha1:BASE32`` of ``body``, as in ``WARC-Payload-Digest``.

    Cached: a check asks for the digest of the same body several times (revisit or not,
    the record, the row), and a ``bytes`` object hashes once.
    """
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def warc_date(when: datetime) -> str:
    """WARC-Date with microseconds; a naive time is taken as UTC."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat(timespec="microseconds") + "Z"


class WarcArchive:
    """Writes captures into rotating ``.warc.gz`` files in ``directory``; reads them back."""

    def __init__(
        self,
        directory: Path,
        *,
        max_file_bytes: int = 100_000_000,
        fsync: bool = True,
        software: str = "source-monitor",
        warcinfo: dict[str, str] | None = None,
        storage: Storage | None = None,
        max_file_age: float | None = None,
        gzip: tuple[str, int] = ("isal", 2),
    ) -> None:
        self.directory = Path(directory)
        self._deflater = deflater(*gzip)
        self._deferred = False  # True: writes wait for sync() to reach the disk (group commit)
        self.storage = storage
        self._max = max_file_bytes
        self._max_age = max_file_age  # seconds a file stays open (so storage gets it soon)
        self._fsync = fsync
        self._info = {
            "software": software,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
            "warc-format/warc-1.1/",
            "hostname": socket.gethostname(),
            **(warcinfo or {}),
        }
        self._builder = WARCWriter(None, gzip=True, warc_version=WARC_VERSION)
        self._segment: _Segment | None = None
        self._lock = threading.Lock()

    def write_response(self, exchange: HttpExchange) -> Stored:
        """Write the request and the full response; return once both are on disk."""
        resp_id, req_id = _new_id(), _new_id()
        digest = exchange.payload_digest
        fields = _record_fields(exchange, "response", resp_id, req_id)
        fields["WARC-Payload-Digest"] = digest
        if exchange.truncated:
            fields["WARC-Truncated"] = "length"
        record = _Record(fields, _HTTP_RESPONSE, _response_head(exchange), exchange.body)
        return self._store(exchange, record, digest, req_id)

    def write_revisit(
        self,
        exchange: HttpExchange,
        *,
        refers_to: Stored | None,
        refers_to_uri: str,
        refers_to_date: datetime,
        profile: str = "identical-payload-digest",
    ) -> Stored:
        """Write a headers-only revisit record (and the request) for an unchanged payload."""
        digest = _revisit_digest(exchange, refers_to, profile)
        rev_id, req_id = _new_id(), _new_id()
        fields = _record_fields(exchange, "revisit", rev_id, req_id)
        fields["WARC-Profile"] = PROFILES[profile]
        if refers_to is not None:
            fields["WARC-Refers-To"] = refers_to.record_id
        fields["WARC-Refers-To-Target-URI"] = refers_to_uri
        fields["WARC-Refers-To-Date"] = warc_date(refers_to_date)
        if digest:
            fields["WARC-Payload-Digest"] = digest
        if profile == "server-not-modified" and refers_to is not None:
            head = _freshened(self._load_head(refers_to.response).http_headers, exchange)
        else:
            head = _response_head(exchange)
        return self._store(exchange, _Record(fields, _HTTP_RESPONSE, head), digest, req_id)

    def write_metadata(self, exchange: HttpExchange, *, refers_to: Stored, about: dict[str, str]) -> Stored:
        """Write a small ``metadata`` record for a check whose bytes are not kept.

        The capture policy (monitor/archive/policy.py) uses it for a churning page whose
        article did not change: the bytes differ from the stored response, so an
        identical-payload revisit would be a false claim. The record names the response
        it matches (``WARC-Refers-To``) and says what came back (``about``, as
        ``application/warc-fields``); no request record, to stay small.
        """
        if refers_to.record_type != "response":
            raise ValueError("a metadata record must refer to a response record")
        rec_id = _new_id()
        fields = {
            "WARC-Type": "metadata",
            "WARC-Record-ID": rec_id,
            "WARC-Date": warc_date(exchange.fetched_at),
            "WARC-Target-URI": exchange.url,
            "WARC-Refers-To": refers_to.record_id,
            "Content-Type": "application/warc-fields",
        }
        body = "".join(f"{name}: {value}\r\n" for name, value in about.items()).encode("utf-8")
        [ref] = self._append([_Record(fields, "", None, body, payload_digest(body))])
        return Stored("metadata", rec_id, "", ref, None)

    def _store(self, exchange: HttpExchange, record: _Record, digest: str, req_id: str) -> Stored:
        rec_id = record.fields["WARC-Record-ID"]
        request = self._request_record(exchange, req_id, rec_id)
        main_ref, req_ref = self._append([record, request])
        return Stored(record.fields["WARC-Type"], rec_id, digest, main_ref, req_ref)

    def _request_record(self, exchange: HttpExchange, req_id: str, concurrent: str) -> _Record:
        req = exchange.request
        parts = urlsplit(req.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        line = f"{req.method} {target} {_http1(req.http_version)}"
        return _Record(_record_fields(exchange, "request", req_id, concurrent), _HTTP_REQUEST,
                       _http_head(line, req.headers), b"", _EMPTY_DIGEST)

    def _append(self, records: list[_Record]) -> list[RecordRef]:
        """Write records to the current file, sync, rotate if full; undo a failed write."""
        with self._lock:
            seg = self._segment or self._open_segment()
            start = seg.fh.tell()
            refs: list[RecordRef] = []
            try:
                members, offset = [], start
                for record in records:
                    members.append(self._gzip(record.parts()))
                    refs.append(RecordRef(seg.name, offset, len(members[-1])))
                    offset += len(members[-1])
                seg.fh.write(b"".join(members))  # one write (and syscall) per batch of records
                seg.fh.flush()
                if self._fsync and self._deferred:
                    seg.unsynced = True
                elif self._fsync:
                    os.fsync(seg.fh.fileno())
            except BaseException:
                self._abandon(seg, start)
                raise
            if seg.fh.tell() >= self._max or self._too_old(seg):
                self._close_segment()
            return refs

    def _gzip(self, parts: list[bytes]) -> bytes:
        """One record as one gzip member. warcio's own gzip writer always uses zlib at level 9:
        on news pages ~6 ms per 170 KB page, against 2.4 ms at zlib's level 4 and 0.35 ms with
        ISA-L at level 2 (for ~10% more bytes than level 4)."""
        deflate = self._deflater()
        return b"".join([*map(deflate.compress, parts), deflate.flush()])

    def _member(self, record: Any) -> bytes:
        """A record warcio built (warcinfo) as one gzip member."""
        plain = BytesIO()
        WARCWriter(plain, gzip=False, warc_version=WARC_VERSION).write_record(record)
        return self._gzip([plain.getvalue()])

    def defer_sync(self) -> None:
        """From now on a write is flushed to the OS and fsynced only by :meth:`sync`: a group
        commit syncs once for all the records of its batch before their rows commit."""
        self._deferred = True

    def sync(self) -> None:
        """fsync the records written since the last sync (closed files were synced on close)."""
        with self._lock:
            seg = self._segment
            if seg is not None and seg.unsynced:
                os.fsync(seg.fh.fileno())
                seg.unsynced = False

    def _too_old(self, seg: _Segment) -> bool:
        return self._max_age is not None and time.monotonic() - seg.opened >= self._max_age

    def rotate_if_old(self) -> None:
        """Close the current file if it has been open longer than ``max_file_age``."""
        with self._lock:
            if self._segment is not None and self._too_old(self._segment):
                self._close_segment()

    def _open_segment(self) -> _Segment:
        """Create a new file no other writer can be using, lock it, write warcinfo."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name, fh = create_file(self.directory, datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f"))
        seg = _Segment(name, fh)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fh.write(self._member(self._builder.create_warcinfo_record(name, self._info)))
            self._sync(fh)
            if self._fsync:
                fsync_dir(self.directory)
        except BaseException:
            fh.close()
            raise
        self._segment = seg
        return seg

    def _abandon(self, seg: _Segment, start: int) -> None:
        """Cut a half-written batch; if even that fails, stop using the file."""
        try:
            seg.fh.truncate(start)  # flushes first
            seg.fh.seek(start)
        except OSError:  # leave the torn tail to recover(); never write here again
            self._segment = None
            with contextlib.suppress(OSError):
                seg.fh.close()

    def _sync(self, fh: BinaryIO) -> None:
        fh.flush()
        if self._fsync:
            os.fsync(fh.fileno())

    def _close_segment(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        try:
            self._sync(seg.fh)
        finally:
            seg.fh.close()  # closing releases the flock
        if self.storage is not None:
            self.storage.closed(seg.name)

    def close(self) -> None:
        """Finish the current file (and hand closed files to storage); the next write opens a new one."""
        with self._lock:
            self._close_segment()
        if self.storage is not None:
            self.storage.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read_raw(self, ref: RecordRef) -> bytes:
        """The stored gzip member bytes of ``ref``."""
        return self._read_part(ref, 0, ref.length)

    def _read_part(self, ref: RecordRef, start: int, size: int) -> bytes:
        """``size`` bytes of ``ref``'s member from ``start``: from the spool while its file is
        there, else (uploaded) by a ranged read from storage."""
        path = self._path(ref.file)
        if ref.offset < 0 or ref.length <= 0:
            raise ArchiveError(f"{ref.file}: bad reference {ref.offset}+{ref.length}")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            if self.storage is None:
                raise ArchiveError(f"{ref.file}: {exc.strerror or exc}") from exc
            raw = self.storage.read(ref.file, ref.offset + start, size)
        except OSError as exc:
            raise ArchiveError(f"{ref.file}: {exc.strerror or exc}") from exc
        else:
            try:  # a bare descriptor: a buffered file object cost more than reading 4 KiB
                raw = os.pread(fd, size, ref.offset + start)
            except OSError as exc:
                raise ArchiveError(f"{ref.file}: {exc.strerror or exc}") from exc
            finally:
                os.close(fd)
        if len(raw) != size:
            raise ArchiveError(f"{ref.file}: no {size} bytes at offset {ref.offset + start}")
        return raw

    def read_http(self, ref: RecordRef) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers and body of a response (a revisit has an empty body)."""
        return self._read(ref)[1:]

    def read_payload(self, ref: RecordRef) -> bytes:
        """The exact HTTP body stored in a response record."""
        record_type, _, _, body = self._read(ref)
        if record_type != "response":
            raise ArchiveError(f"{ref.file}@{ref.offset}: {record_type} record has no payload")
        return body

    def _read(self, ref: RecordRef) -> tuple[str, int, list[tuple[str, str]], bytes]:
        record = self._load(ref)
        where = f"{ref.file}@{ref.offset}"
        if record.rec_type not in ("response", "revisit") or not record.http_headers:
            raise ArchiveError(f"{where}: {record.rec_type} record has no HTTP response")
        try:
            status = int(record.http_headers.get_statuscode())
        except ValueError as exc:
            raise ArchiveError(f"{where}: bad HTTP status line") from exc
        headers = [(str(k), str(v)) for k, v in record.http_headers.headers]
        if record.rec_type == "revisit":
            return "revisit", status, headers, b""
        body: bytes = record.raw_stream.read()
        stated = record.rec_headers.get_header("WARC-Payload-Digest") or ""
        if len(body) != record.payload_length or (
            stated.startswith("sha1:") and stated != payload_digest(body)
        ):
            raise ArchiveError(f"{where}: payload is truncated or does not match its digest")
        return "response", status, headers, body

    def _load_head(self, ref: RecordRef) -> Any:
        """The record with its headers parsed, reading and inflating only the start of its
        member while the WARC and HTTP headers end within 64 KiB (a 304 revisit needs the
        original's headers, not its body); anything doubtful is left to the full read."""
        inflater, head, rest = zlib.decompressobj(16 + zlib.MAX_WBITS), b"", b""
        done, size = 0, _HEAD_READ
        try:  # a few KiB at a time: inflating 64 KiB of body cost more than the rest of a revisit
            while len(head) < _CHUNK:
                if not rest:  # all read so far is inflated: read on, twice as much each time
                    if done >= ref.length or inflater.eof:
                        return self._load(ref)
                    rest = self._read_part(ref, done, min(size, ref.length - done))
                    done, size = done + len(rest), size * 2
                head += inflater.decompress(rest, _HEAD_STEP)
                rest = inflater.unconsumed_tail
                warc_end = head.find(b"\r\n\r\n")
                if warc_end >= 0 and head.find(b"\r\n\r\n", warc_end + 4) >= 0:
                    break
            else:
                return self._load(ref)
        except zlib.error:
            return self._load(ref)  # which names the problem
        try:
            return _LOADER.parse_record_stream(BytesIO(head), known_format="warc")
        except Exception:  # let the full read name the problem
            return self._load(ref)

    def _load(self, ref: RecordRef) -> Any:
        inflater, where = zlib.decompressobj(16 + zlib.MAX_WBITS), f"{ref.file}@{ref.offset}"
        try:
            data = inflater.decompress(self.read_raw(ref))
        except zlib.error as exc:
            raise ArchiveError(f"{where}: not a gzip member ({exc})") from exc
        if not inflater.eof:
            raise ArchiveError(f"{where}: gzip member is cut short")
        try:
            return _LOADER.parse_record_stream(BytesIO(data), known_format="warc")
        except Exception as exc:  # warcio raises several kinds on malformed headers
            raise ArchiveError(f"{where}: not a WARC record ({exc})") from exc

    def _path(self, name: str) -> str:
        """A str, checked without Path objects: building one cost more than reading 4 KiB."""
        if not name or "/" in name or name in (".", ".."):
            raise ArchiveError(f"not a file name in the archive: {name!r}")
        return os.path.join(self.directory, name)

    def recover(self, committed_ends: dict[str, int]) -> list[str]:
        """Cut torn trailing records from files no writer holds; one line per file fixed."""
        paths = sorted(self.directory.glob("*.warc.gz"))
        found = (_recover_file(path, committed_ends.get(path.name, 0)) for path in paths)
        return [line for line in found if line]


def scan_warc(path: Path, start: int = 0) -> Scan:
    """Check the records of a ``.warc.gz`` from ``start``; stop at the first bad one."""
    try:
        with open(path, "rb") as fh:
            return _scan(fh, start)
    except OSError as exc:
        return Scan(start, 0, 0, f"cannot read: {exc.strerror or exc}")


def create_file(directory: Path, stamp: str) -> tuple[str, BinaryIO]:
    """A new file named ``monitor-<stamp>-<pid>-<random>.warc.gz`` that no one else has."""
    while True:
        name = f"monitor-{stamp}-{os.getpid()}-{secrets.token_hex(2)}.warc.gz"
        try:
            return name, open(directory / name, "xb")
        except FileExistsError:
            continue


def member_spans(fh: BinaryIO) -> list[tuple[int, int]]:
    """(offset, end) of every complete record of an open ``.warc.gz``; stops at a bad one."""
    size, pos, spans = os.fstat(fh.fileno()).st_size, 0, []
    while pos < size:
        try:
            end = _member_end(fh, pos)
        except ArchiveError:
            break
        spans.append((pos, end))
        pos = end
    return spans


def _recover_file(path: Path, start: int) -> str | None:
    try:
        fh = open(path, "r+b")  # noqa: SIM115 - closed below
    except OSError as exc:
        return f"{path.name}: cannot open for repair ({exc.strerror or exc})"
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # a writer holds it: not ours to judge
        scan = _scan(fh, start)
        if scan.problem is None:
            return None
        if scan.end > scan.size or not OWN_NAME.fullmatch(path.name):
            return f"{path.name}: {scan.problem}; left unchanged"
        fh.truncate(scan.end)
        os.fsync(fh.fileno())
        return f"{path.name}: {scan.problem}; cut {scan.size - scan.end} bytes to end at {scan.end}"


def _scan(fh: BinaryIO, start: int) -> Scan:
    size = os.fstat(fh.fileno()).st_size
    if start > size:
        return Scan(start, 0, size, f"file has {size} bytes, less than the committed {start}")
    pos, count = start, 0
    while pos < size:
        try:
            end = _member_end(fh, pos)
        except ArchiveError as exc:
            return Scan(pos, count, size, f"bad record at offset {pos}: {exc}")
        pos, count = end, count + 1
    return Scan(pos, count, size, None)


def _member_end(fh: BinaryIO, start: int) -> int:
    """End offset of the complete one-record gzip member at ``start``."""
    fh.seek(start)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head, tail, total, consumed = b"", b"", 0, 0
    while not inflater.eof:
        chunk = fh.read(_CHUNK)
        if not chunk:
            raise ArchiveError("gzip member is cut short")
        consumed += len(chunk)
        try:
            out = inflater.decompress(chunk)
        except zlib.error as exc:
            raise ArchiveError(f"not a gzip member ({exc})") from exc
        head += out[: max(0, _CHUNK - len(head))]
        tail = (tail + out)[-4:]
        total += len(out)
    _check_record(head, total, tail)
    return start + consumed - len(inflater.unused_data)


def _check_record(head: bytes, total: int, tail: bytes) -> None:
    """A whole WARC record: header, Content-Length bytes of block, then CRLF CRLF."""
    header_end = head.find(b"\r\n\r\n")
    if not head.startswith(b"WARC/") or header_end < 0:
        raise ArchiveError("not a WARC record")
    match = _LENGTH_RE.search(head[:header_end])
    if match is None:
        raise ArchiveError("WARC record without Content-Length")
    if total != header_end + 4 + int(match.group(1)) + 4 or tail != b"\r\n\r\n":
        raise ArchiveError("record size does not match its Content-Length")


_HTTP_RESPONSE = "application/http; msgtype=response"
_HTTP_REQUEST = "application/http; msgtype=request"


@dataclass
class _Record:
    """A WARC record to write: its fields, block content type, HTTP head and payload.

    Serialized here rather than by warcio's builder and writer, which took ~0.3 ms of CPU per
    small record (header objects built, searched and rewritten, a BytesIO copy of the body, a
    block digest read back through a stream); the bytes are the same as warcio's: fields in
    order, then WARC-Payload-Digest (when the type has one), WARC-Block-Digest, Content-Type
    and Content-Length. ``content_type`` "" keeps the one in ``fields``."""

    fields: dict[str, str]
    content_type: str
    head: bytes | None  # HTTP status line and headers; a revisit's block is only this
    body: bytes = b""
    digest: str | None = None  # WARC-Payload-Digest to add if ``fields`` has none

    def parts(self) -> list[bytes]:
        fields, block = dict(self.fields), [self.head or b"", self.body]
        if "WARC-Payload-Digest" not in fields and self.digest:
            fields["WARC-Payload-Digest"] = self.digest
        hasher = hashlib.sha1(block[0])
        hasher.update(block[1])
        fields["WARC-Block-Digest"] = "sha1:" + base64.b32encode(hasher.digest()).decode("ascii")
        if self.content_type:
            fields["Content-Type"] = self.content_type
        fields["Content-Length"] = str(len(block[0]) + len(block[1]))
        text = "".join([WARC_VERSION, "\r\n", *(f"{k}: {v}\r\n" for k, v in fields.items()), "\r\n"])
        return [text.encode("utf-8"), *block, b"\r\n\r\n"]


_EMPTY_DIGEST = payload_digest(b"")  # what warcio states for a request record's empty payload


def _http_head(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    """An HTTP status or request line and headers, as warcio writes them (ASCII; a header
    that is not is %-encoded by warcio, RFC 8187)."""
    text = "".join([first_line, "\r\n", *(f"{k}: {v}\r\n" for k, v in headers), "\r\n"])
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        return bytes(StatusAndHeaders(first_line, list(headers)).to_ascii_bytes())


def _revisit_digest(exchange: HttpExchange, refers_to: Stored | None, profile: str) -> str:
    """The payload digest a revisit may claim; refuse claims the standard does not allow."""
    if profile not in PROFILES:
        raise ValueError(f"unknown revisit profile {profile!r}")
    if refers_to is not None and refers_to.record_type != "response":
        raise ValueError("a revisit must refer to a response record")
    if profile == "server-not-modified":
        if exchange.status != 304:
            raise ValueError("server-not-modified needs the 304 response")
        return refers_to.payload_digest if refers_to else ""
    digest = exchange.payload_digest
    if refers_to is not None and refers_to.payload_digest != digest:
        raise ValueError("payload differs from the original: not an identical-payload revisit")
    return digest


def _record_fields(exchange: HttpExchange, kind: str, rec_id: str, other: str) -> dict[str, str]:
    fields = {
        "WARC-Type": kind,
        "WARC-Record-ID": rec_id,
        "WARC-Date": warc_date(exchange.fetched_at),
        "WARC-Target-URI": exchange.url,
    }
    if exchange.remote_ip:
        fields["WARC-IP-Address"] = exchange.remote_ip
    if not exchange.http_version.startswith("HTTP/1"):
        major = exchange.http_version.removeprefix("HTTP/").split(".")[0]
        fields["WARC-Protocol"] = f"h{major}"  # the HTTP/1.x-style block came over h2/h3
    fields["WARC-Concurrent-To"] = other
    return fields


def _response_head(exchange: HttpExchange) -> bytes:
    """Status line and headers as stored: HTTP/1.x form whatever the wire protocol was."""
    reason = exchange.reason or _PHRASES.get(exchange.status, "")
    status = f"{exchange.status} {reason}".strip()
    return _http_head(f"{_http1(exchange.http_version)} {status}", exchange.headers)


_NOT_FRESHENED = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-range"})


def _freshened(original: Any, exchange: HttpExchange) -> bytes:
    """The HTTP block of a 304 revisit: the original response's status line and headers, with
    the fields the 304 sent replacing theirs, as a cache freshens a stored response (RFC 9111,
    4.3.4). Replay tools serve a revisit's own status line: pywb answers a stored 304 with an
    empty 304, not the payload it stands for. The 304 itself is told by the profile and kept
    as ``X-Archive-Orig-Status``."""
    sent = [(k, v) for k, v in exchange.headers
            if k.lower() not in _NOT_FRESHENED and not k.lower().startswith("x-archive-orig-")]
    replaced = {k.lower() for k, _ in sent}
    kept = [(str(k), str(v)) for k, v in original.headers if str(k).lower() not in replaced]
    status = f"{exchange.status} {exchange.reason or _PHRASES.get(exchange.status, '')}".strip()
    headers = [*kept, *sent, ("X-Archive-Orig-Status", status)]
    first = " ".join(part for part in (original.protocol, original.statusline) if part)
    return _http_head(first, headers)


def _http1(version: str) -> str:
    return version if version.startswith("HTTP/1") else "HTTP/1.1"


def _new_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


class _Deflate(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


def deflater(engine: str, level: int) -> Callable[[], _Deflate]:
    """A maker of gzip compressors: ``isal`` (Intel ISA-L through python-isal, levels 0-3, its
    own assembly deflate) or ``zlib`` (levels 1-9). Both write standard gzip members that any
    inflater reads; archive.gzip_engine chooses."""
    if engine == "isal":
        from isal import isal_zlib

        return lambda: isal_zlib.compressobj(level, isal_zlib.DEFLATED, isal_zlib.MAX_WBITS + 16)
    if engine == "zlib":
        return lambda: zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    raise ValueError(f"unknown gzip engine {engine!r} (isal or zlib)")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
