"""Reading whole WARC and ARC files that may be broken: one result per record, never a crash.

``iter_records`` walks any file warcio can read (WARC or ARC, gzip per record or not,
chunked HTTP bodies) and yields, for each record, what it is and whether it is sound:
its digests checked, its length and framing checked, and for gzip files its gzip member
checked for completeness. A record that cannot be parsed becomes a :class:`ReadError`
naming the file and offset, and reading resumes at the next record start found after
it. Only a file that cannot be opened at all raises (:class:`UnreadableFile`).

warcio's ``ArchiveIterator`` does the parsing; this module adds the guards around it,
because warcio reports some damage only on stderr (a record not followed by its blank
lines, a gzip member that fails to inflate) and stops at the first bad record.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import os
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

from warcio.archiveiterator import ArchiveIterator

Slicer = Callable[[int, int], bytes]  # (offset, length) -> the bytes there, without moving the reader

_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_START = b"\nWARC/1."
_SEARCH_BLOCK = 1 << 20
_MAX_ERRORS = 100  # per file: past this a file is noise, not an archive worth listing line by line
_READ_BLOCK = 1 << 16
_SNIFF = 4096
_MANDATORY = ("WARC-Record-ID", "WARC-Date", "WARC-Type")


class UnreadableFile(Exception):
    """The file itself cannot be opened or read (missing, a directory, no permission)."""


@dataclass(frozen=True)
class RecordInfo:
    """One record as found: what it is, where it is, and anything wrong with it.

    ``digest`` is warcio's verdict on the stated block and payload digests: "ok", "failed",
    or "none" (nothing stated, or a revisit). ``computed_digest`` is the ``sha1:BASE32`` of
    the payload as stored (the HTTP body for HTTP records, else the whole block).
    ``problems`` make the record unsound; ``notes`` are oddities warcio repaired on reading.
    """

    file: str
    offset: int
    length: int
    record_type: str
    target_uri: str | None
    date: str | None
    record_id: str | None
    digest: Literal["ok", "failed", "none"]
    stated_digest: str | None = None
    computed_digest: str | None = None
    refers_to: str | None = None
    concurrent_to: str | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def sound(self) -> bool:
        return not self.problems

    @property
    def damaged(self) -> bool:
        """Broken framing or truncation, as opposed to intact bytes that fail their digest."""
        return any(not p.startswith(("block digest", "payload digest")) for p in self.problems)

    def line(self) -> str:
        what = f"{self.record_type} {self.target_uri}" if self.target_uri else self.record_type
        issues = "; ".join(self.problems or self.notes) or "ok"
        return f"{self.file}@{self.offset}: {what}: {issues}"


@dataclass(frozen=True)
class ReadError:
    """A stretch of the file that is not a readable record, from ``offset``."""

    file: str
    offset: int
    message: str

    def line(self) -> str:
        return f"{self.file}@{self.offset}: {self.message}"


Found = RecordInfo | ReadError


def iter_records(path: Path) -> Iterator[Found]:
    """Every record of ``path`` in file order; raises only :class:`UnreadableFile`."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed when the generator finishes
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot open ({exc.strerror or exc})") from exc
    with fh:
        gzipped = _pread(fh, 0, len(_GZIP_MAGIC)) == _GZIP_MAGIC
        wrong = _not_an_archive(_pread(fh, 0, _SNIFF), gzipped)
        if wrong:
            yield ReadError(path.name, 0, wrong)
            return
        yield from _walk(fh, path.name, gzipped, lambda o, n: _pread(fh, o, n))


def _not_an_archive(head: bytes, gzipped: bool) -> str | None:
    """Why the file is no WARC or ARC file at all (its first bytes say), or None."""
    if gzipped:
        with contextlib.suppress(zlib.error):
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
    if head.lstrip(b"\r\n").startswith((b"WARC/", b"filedesc://")):
        return None
    shown = head[:40].decode("utf-8", "replace").split("\n")[0].strip()
    return f"not a WARC or ARC file (it starts with {shown!r})"


def read_record(path: Path, offset: int, length: int) -> Found:
    """The one record stored at ``offset`` (``length`` bytes) of ``path``.

    The bytes must hold exactly one complete record; raises only :class:`UnreadableFile`.
    """
    try:
        with open(path, "rb") as fh:
            data = _pread(fh, offset, length)
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return parse_record(path.name, offset, length, data)


def parse_record(name: str, offset: int, length: int, data: bytes) -> Found:
    """The one record ``data`` holds, read from ``offset`` of file ``name`` (wherever it lives)."""
    if len(data) < length:
        return ReadError(name, offset, f"file ends {length - len(data)} bytes short of the record")
    found = list(_walk(io.BytesIO(data), name, data.startswith(_GZIP_MAGIC),
                       lambda o, n: data[o:o + n]))
    return _single(found, name, offset, length)


def _single(found: list[Found], name: str, offset: int, length: int) -> Found:
    """Shift a slice's one result to file offsets; more than one record there is a problem."""
    if not found:
        return ReadError(name, offset, "no record there")
    first = found[0]
    if isinstance(first, ReadError):
        return ReadError(name, offset + first.offset, first.message)
    problems = list(first.problems)
    if len(found) > 1 or first.length != length:
        problems.append(f"the stored length {length} does not match the record's {first.length} bytes")
    return replace(first, offset=offset + first.offset, problems=tuple(problems))


def _walk(fh: BinaryIO, name: str, gzipped: bool, slicer: Slicer) -> Iterator[Found]:
    """Read records from the start; after a bad one, resume at the next record start."""
    position: int | None = 0
    errors = 0
    while position is not None:
        fh.seek(position)
        failure = yield from _follow(ArchiveIterator(fh, check_digests=True), name, gzipped, slicer)
        if failure is None:
            return
        errors += 1
        if errors >= _MAX_ERRORS:
            yield ReadError(name, failure, f"{_MAX_ERRORS} unreadable stretches: the rest is not read")
            return
        position = _next_start(fh, failure + 1, gzipped)


def _follow(
    iterator: ArchiveIterator, name: str, gzipped: bool, slicer: Slicer
) -> Generator[Found, None, int | None]:
    """Yield records until the end (returns None) or a record that cannot be read (its offset)."""
    end: int = iterator.offset
    while True:
        start: int = max(iterator.offset, end)  # warcio's offsets go wrong inside a non-chunked gzip
        errors_before = iterator.err_count
        try:
            with _quiet() as warnings:
                record = next(iterator)
                info = _inspect(record, iterator, name)
        except StopIteration:
            return None
        except Exception as exc:  # warcio raises many kinds on bad input
            yield ReadError(name, start, _one_line(exc))
            return start
        damage = _framing_problems(iterator.err_count > errors_before, warnings.getvalue())
        if info.offset < start or info.length <= 0:
            info = replace(info, offset=start, length=0)
            damage.append("the record's place in the file cannot be told: "
                          "its gzip member holds more than one record")
        elif gzipped:
            damage += _member_problems(slicer(info.offset, info.length))
        end = info.offset + info.length
        yield replace(info, problems=info.problems + tuple(damage), notes=_notes_of(warnings.getvalue()))


def _inspect(record: Any, iterator: ArchiveIterator, name: str) -> RecordInfo:
    """Read the record through (so warcio checks its digests) and describe it."""
    headers = record.rec_headers
    is_arc = record.format.startswith("arc")
    if not is_arc and not headers.get_header("WARC-Type"):
        raise ValueError("no WARC-Type header: this is not the start of a record")
    digester = hashlib.sha1()
    while chunk := record.raw_stream.read(_READ_BLOCK):
        digester.update(chunk)
    missing = int(getattr(record.raw_stream, "limit", 0) or 0)
    offset, length = iterator.get_record_offset(), iterator.get_record_length()
    problems = [f"record is cut short: {missing} bytes of its content are missing"] if missing else []
    absent = [] if is_arc else [name for name in _MANDATORY if not headers.get_header(name)]
    problems += [f"mandatory header {name} is missing" for name in absent]
    checker = record.digest_checker
    problems += [str(p) for p in (checker.problems if checker.passed is False else [])]
    digest: Literal["ok", "failed", "none"] = (
        "none" if checker.passed is None else "ok" if checker.passed else "failed")
    return RecordInfo(
        file=name, offset=offset, length=length, record_type=str(record.rec_type),
        target_uri=headers.get_header("uri" if is_arc else "WARC-Target-URI"),
        date=headers.get_header("archive-date" if is_arc else "WARC-Date"),
        record_id=headers.get_header("WARC-Record-ID"), digest=digest,
        stated_digest=headers.get_header("WARC-Payload-Digest"),
        computed_digest="sha1:" + base64.b32encode(digester.digest()).decode("ascii"),
        refers_to=headers.get_header("WARC-Refers-To"),
        concurrent_to=headers.get_header("WARC-Concurrent-To"),
        problems=tuple(problems),
    )


def _framing_problems(blank_lines_missing: bool, stderr: str) -> list[str]:
    problems = []
    if blank_lines_missing:
        problems.append("record is not followed by the two blank lines the standard requires: "
                        "truncated, or its Content-Length is wrong")
    inflate = [line.strip() for line in stderr.splitlines() if "decompress" in line.lower()]
    problems += [f"gzip data is damaged ({line})" for line in inflate[:1]]
    return problems


def _member_problems(member: bytes) -> list[str]:
    """A gzip record must be exactly one complete member (warcio does not check the trailer)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for start in range(0, len(member), _READ_BLOCK):
            inflater.decompress(member[start:start + _READ_BLOCK])
    except zlib.error as exc:
        return [f"gzip data is damaged ({exc})"]
    if not inflater.eof:
        return ["gzip member is cut short"]
    return []


def _notes_of(stderr: str) -> tuple[str, ...]:
    """What warcio repaired while reading (it logs these, and reads on)."""
    prefix = "Replacing spaces in invalid WARC-Target-URI: "
    return tuple(f"WARC-Target-URI {line.strip().removeprefix(prefix)!r} has spaces (read as %20)"
                 for line in stderr.splitlines() if line.strip().startswith(prefix))


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Collect what warcio writes to stderr and its logger while reading one record.

    Redirecting stderr is process-wide; this reader is used from commands, not from
    the daemon's threads, so nothing else is writing meanwhile.
    """
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger = logging.getLogger("warcio")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _next_start(fh: BinaryIO, position: int, gzipped: bool) -> int | None:
    """The next place a record could start: a gzip header, or a ``WARC/1.x`` line."""
    marker = _GZIP_MAGIC if gzipped else _WARC_START
    skip = 0 if gzipped else 1
    fh.seek(position)
    carry = b""
    base = position
    while block := fh.read(_SEARCH_BLOCK):
        window = carry + block
        found = window.find(marker)
        if found >= 0:
            return base - len(carry) + found + skip
        carry = window[-(len(marker) - 1):]
        base += len(block)
    return None


def _one_line(exc: Exception) -> str:
    """warcio's messages span lines; keep the first that says something, and our advice."""
    text = str(exc)
    if "non-chunked gzip" in text:
        return ("the file is one gzip stream, not one gzip member per record: "
                "tools cannot seek in it ('warcio recompress' fixes it)")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"not a readable record ({first[:200] or type(exc).__name__})"


def _pread(fh: BinaryIO, offset: int, length: int) -> bytes:
    """Read without moving the file position (warcio keeps its own buffered place)."""
    if offset < 0 or length <= 0:
        return b""
    if isinstance(fh, io.BytesIO):
        return fh.getbuffer()[offset:offset + length].tobytes()
    return os.pread(fh.fileno(), length, offset)
