"""Fixity: prove the archive still holds what the database says it holds.

Every record a Capture row points to is read again and checked: the file is there,
the bytes at offset/length are one complete gzip member holding one WARC record,
that record is the one the row names (``WARC-Record-ID``, type), its digests hold,
and a response's payload digest is the one the row recorded. Every reference
between rows (a revisit or compact capture to the response it stands for, a version
to its capture) must resolve. Then every WARC file is scanned end to end, so a torn
tail or trailing garbage that no row points to is found too. Nothing is modified.
Files are read where they are (:class:`~monitor.archive.storage.WarcFiles`): in the
local spool, else in object storage (records by ranged reads, whole files downloaded).

``verify_files`` does the same record checks on arbitrary WARC/ARC files (received
from elsewhere), through :mod:`monitor.archive.reader`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from monitor.archive.reader import Found, ReadError, RecordInfo, UnreadableFile, iter_records, parse_record
from monitor.archive.storage import ObjectStore, WarcFiles
from monitor.archive.warc import ArchiveError, scan_warc
from monitor.store import session
from monitor.store.models import Capture, Source, Version

PROBLEMS = ("missing", "altered", "unreadable", "dangling")  # anything else is information
STORED_TYPES = ("response", "revisit", "metadata")  # captures that own a WARC record
Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class Finding:
    """One thing found: a problem (``kind`` in PROBLEMS) or a note, and where it is."""

    kind: str
    message: str
    file: str | None = None
    offset: int | None = None
    capture_id: int | None = None
    source_id: int | None = None
    url: str | None = None

    @property
    def is_problem(self) -> bool:
        return self.kind in PROBLEMS

    def line(self) -> str:
        who = f"capture {self.capture_id} " if self.capture_id is not None else ""
        if self.source_id is not None:
            who += f"(#{self.source_id} {self.url}) " if self.url else f"(#{self.source_id}) "
        where = f"{self.file}@{self.offset}: " if self.file and self.offset is not None else (
            f"{self.file}: " if self.file else "")
        return f"{self.kind:<10} {who}{where}{self.message}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FixityReport:
    records: int = 0
    files: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    def summary(self, verb: str = "verified") -> str:
        head = f"{verb} {self.records} records in {len(self.files)} files"
        problems = self.problems
        if not problems:
            return f"{head}: all good"
        counts = {kind: sum(1 for p in problems if p.kind == kind) for kind in PROBLEMS}
        detail = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        return f"{head}: {len(problems)} problems ({detail})"


@dataclass(frozen=True)
class _Ref:
    """What the rest of the database needs to know about a capture to resolve references."""

    record_type: str | None
    record_id: str | None
    refers_to: int | None


@dataclass
class _Index:
    captures: dict[int, _Ref]
    urls: dict[int, str]
    referenced_files: set[str]


# ------------------------------------------------------------------ the archive


def verify_archive(
    engine: Engine, warc_dir: Path, source_ids: list[int] | None = None,
    progress: Progress | None = None, *, store: ObjectStore | None = None,
) -> FixityReport:
    """Check every record the database points to (of ``source_ids``, default all) and,
    for the whole archive only, every WARC file end to end (in ``warc_dir``, then ``store``)."""
    report = FixityReport()
    where = WarcFiles(warc_dir, store)
    files = where.names() if source_ids is None else []
    with session(engine) as db:
        index = _index(db)
        total, done = _count(db, source_ids) + len(files), 0
        for capture in _captures(db, source_ids):
            report.findings += _check_capture(capture, index, where, report)
            done += 1
            if progress:
                progress(done, total)
        report.findings += _check_versions(db, index, source_ids)
    for name in files:
        report.files.add(name)
        report.findings += _check_file(where, name, index)
        done += 1
        if progress:
            progress(done, total)
    return report


def _index(db: Session) -> _Index:
    rows = db.exec(select(Capture.id, Capture.record_type, Capture.record_id,
                          Capture.refers_to_capture_id)).all()
    captures = {cid: _Ref(kind, rid, ref) for cid, kind, rid, ref in rows if cid is not None}
    files = db.exec(select(Capture.warc_file).where(col(Capture.warc_file).is_not(None)).distinct()).all()
    urls = {sid: url for sid, url in db.exec(select(Source.id, Source.url)).all() if sid is not None}
    return _Index(captures, urls, {name for name in files if name})


def _selected(query: Any, source_ids: list[int] | None) -> Any:
    return query if source_ids is None else query.where(col(Capture.source_id).in_(source_ids))


def _count(db: Session, source_ids: list[int] | None) -> int:
    query = select(Capture.id).where(
        (col(Capture.record_type).is_not(None)) | (col(Capture.refers_to_capture_id).is_not(None)))
    return len(db.exec(_selected(query, source_ids)).all())


def _captures(db: Session, source_ids: list[int] | None) -> Iterator[Capture]:
    """Captures that own a record or stand for another, in file order (reads stay sequential)."""
    query = _selected(select(Capture), source_ids).where(
        (col(Capture.record_type).is_not(None)) | (col(Capture.refers_to_capture_id).is_not(None))
    ).order_by(col(Capture.warc_file), col(Capture.warc_offset), col(Capture.id))
    yield from db.exec(query.execution_options(yield_per=500))


def _check_capture(capture: Capture, index: _Index, where: WarcFiles, report: FixityReport) -> list[Finding]:
    """The capture's own record and request record, and the capture it refers to."""
    say = _reporter(capture, index)
    findings = _check_reference(capture, index, say)
    if capture.record_type is None:
        return findings
    if capture.record_type not in STORED_TYPES:
        return [*findings, say("altered", f"unknown record type {capture.record_type!r} in the row")]
    if not capture.warc_file or capture.warc_offset is None or not capture.warc_length:
        return [*findings, say("dangling", f"a {capture.record_type} capture with no WARC location")]
    report.files.add(capture.warc_file)
    found = _read(where, capture.warc_file, capture.warc_offset, capture.warc_length, say, report)
    if isinstance(found, Finding):
        return [*findings, found]
    findings += _check_main(capture, found, index, say)
    if capture.request_offset is not None and capture.request_length:
        findings += _check_request(capture, where, say, report)
    return findings


Say = Callable[..., Finding]


def _reporter(capture: Capture, index: _Index) -> Say:
    """Findings about one capture all name it, its source, and its file."""
    def say(kind: str, message: str, offset: int | None = None) -> Finding:
        return Finding(kind, message, capture.warc_file,
                       capture.warc_offset if offset is None else offset, capture.id,
                       capture.source_id, index.urls.get(capture.source_id))
    return say


def _read(where: WarcFiles, name: str, offset: int, length: int, say: Say,
          report: FixityReport) -> RecordInfo | Finding:
    """The record at offset/length, or why it is missing or unreadable."""
    try:
        size = where.size(name)
    except (OSError, ArchiveError) as exc:
        return say("unreadable", f"file {name}: {getattr(exc, 'strerror', None) or exc}", offset)
    if size is None:
        return say("missing", f"file {name} does not exist", offset)
    if size < offset + length:
        short = "before the record starts" if size <= offset else f"{offset + length - size} bytes short"
        return say("missing", f"the file ends at {size}, {short} (record of {length} bytes)", offset)
    report.records += 1
    try:
        found = parse_record(name, offset, length, where.read(name, offset, length))
    except ArchiveError as exc:
        return say("unreadable", str(exc), offset)
    if isinstance(found, ReadError):
        return say("unreadable", found.message, found.offset)
    if found.damaged:
        return say("unreadable", "; ".join(found.problems), offset)
    if found.problems:
        return say("altered", "; ".join(found.problems), offset)
    return found


def _check_main(capture: Capture, info: RecordInfo, index: _Index, say: Say) -> list[Finding]:
    if info.record_id != capture.record_id or info.record_type != capture.record_type:
        return [say("altered", f"holds {info.record_type} {info.record_id}, not the "
                    f"{capture.record_type} {capture.record_id} the row names")]
    findings: list[Finding] = []
    if capture.record_type == "response":
        findings += _payload_findings(capture, info, say)
    elif (capture.record_type == "revisit" and capture.payload_digest and info.stated_digest
          and capture.payload_digest != info.stated_digest):
        findings.append(say("altered", f"record states payload {info.stated_digest}, "
                            f"the row {capture.payload_digest}"))
    if capture.record_type in ("revisit", "metadata"):
        findings += _refers_to_findings(capture, info, index, say)
    return findings


def _payload_findings(capture: Capture, info: RecordInfo, say: Say) -> list[Finding]:
    """A response's payload hashes to its WARC-Payload-Digest and to the row's digest."""
    computed = info.computed_digest
    if info.stated_digest and info.stated_digest != computed:
        return [say("altered", f"payload is {computed}, its WARC-Payload-Digest says {info.stated_digest}")]
    if capture.payload_digest and capture.payload_digest != computed:
        return [say("altered", f"payload is {computed}, the row says {capture.payload_digest}")]
    return []


def _refers_to_findings(capture: Capture, info: RecordInfo, index: _Index, say: Say) -> list[Finding]:
    """The record's WARC-Refers-To names the record of the capture the row refers to."""
    target = index.captures.get(capture.refers_to_capture_id or -1)
    if info.refers_to is None:
        if capture.record_type == "metadata":
            return [say("altered", "metadata record without WARC-Refers-To")]
        return []  # a 304 revisit of an original we never stored names none
    if target is None:
        return [say("dangling", f"record refers to {info.refers_to}, which no capture row holds")]
    if target.record_id != info.refers_to:
        return [say("dangling", f"record refers to {info.refers_to}, but the row refers to capture "
                    f"{capture.refers_to_capture_id}, which holds {target.record_id}")]
    return []


def _check_reference(capture: Capture, index: _Index, say: Say) -> list[Finding]:
    """refers_to_capture_id must name a capture holding a full response."""
    ref = capture.refers_to_capture_id
    if ref is None:
        if capture.record_type is None or capture.record_type in ("response", "revisit"):
            return []
        return [say("dangling", f"a {capture.record_type} capture that refers to no capture")]
    target = index.captures.get(ref)
    if target is None:
        return [say("dangling", f"refers to capture {ref}, which does not exist")]
    if target.record_type != "response":
        return [say("dangling", f"refers to capture {ref}, which holds no response "
                    f"({target.record_type or 'no record'})")]
    return []


def _check_request(capture: Capture, where: WarcFiles, say: Say, report: FixityReport) -> list[Finding]:
    offset, length = capture.request_offset or 0, capture.request_length or 0
    found = _read(where, capture.warc_file or "", offset, length, say, report)
    if isinstance(found, Finding):
        return [replace(found, message=f"its request record: {found.message}")]
    if found.record_type != "request" or found.concurrent_to != capture.record_id:
        return [say("altered", f"holds {found.record_type} {found.record_id}, not the request "
                    f"concurrent to {capture.record_id}", offset)]
    return []


def _check_versions(db: Session, index: _Index, source_ids: list[int] | None) -> list[Finding]:
    """Every version names the capture it came from, and that capture has a stored copy."""
    query = select(Version.id, Version.source_id, Version.number, Version.capture_id)
    if source_ids is not None:
        query = query.where(col(Version.source_id).in_(source_ids))
    findings = []
    for _, source_id, number, capture_id in db.exec(query).all():
        if capture_id is None:
            continue
        problem = _unresolved(capture_id, index)
        if problem:
            findings.append(Finding("dangling", f"version {number} comes from capture {capture_id}, "
                                    f"which {problem}", source_id=source_id,
                                    url=index.urls.get(source_id)))
    return findings


def _unresolved(capture_id: int, index: _Index) -> str | None:
    ref = index.captures.get(capture_id)
    if ref is None:
        return "does not exist"
    if ref.record_type == "response":
        return None
    target = index.captures.get(ref.refers_to or -1)
    if target is None or target.record_type != "response":
        return "holds no response and refers to none"
    return None


# ------------------------------------------------------------------ files end to end


def _check_file(where: WarcFiles, name: str, index: _Index) -> list[Finding]:
    """The whole file reads to its end; a file no row points to is worth knowing about."""
    findings = []
    try:
        with where.local(name) as path:
            scan = scan_warc(path)
            writing = scan.problem is not None and where.in_spool(name) and _being_written(path)
    except ArchiveError as exc:
        return [Finding("unreadable", str(exc), name)]
    if scan.problem is not None:
        if writing:
            findings.append(Finding("writing", f"{scan.problem} (a running monitor is writing it)",
                                    name, scan.end))
        else:
            findings.append(Finding("unreadable", f"{scan.problem}: other tools stop reading here",
                                    name, scan.end))
    if name not in index.referenced_files:
        findings.append(Finding("unreferenced", f"no capture row points into this file "
                                f"({scan.records} records)", name))
    return findings


def _being_written(path: Path) -> bool:
    """A writer holds an exclusive flock on the file it appends to (monitor/archive/warc.py)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing releases our shared lock
    return False


# ------------------------------------------------------------------ files from elsewhere


def verify_files(paths: Iterable[Path], progress: Progress | None = None) -> FixityReport:
    """Read any WARC/ARC files through and report every record that is not sound."""
    report = FixityReport()
    paths = list(paths)
    for done, path in enumerate(paths, 1):
        report.files.add(str(path))
        try:
            for found in iter_records(path):
                report.records += isinstance(found, RecordInfo)
                report.findings += _file_findings(path, found)
        except UnreadableFile as exc:
            report.findings.append(Finding("unreadable", str(exc)))
        if progress:
            progress(done, len(paths))
    return report


def _file_findings(path: Path, found: Found) -> list[Finding]:
    if isinstance(found, ReadError):
        return [Finding("unreadable", found.message, str(path), found.offset)]
    what = f"{found.record_type} {found.target_uri or found.record_id or ''}".strip()
    findings = [Finding("note", f"{what}: {note}", str(path), found.offset) for note in found.notes]
    if found.problems:
        kind = "unreadable" if found.damaged else "altered"
        findings.append(Finding(kind, f"{what}: {'; '.join(found.problems)}", str(path), found.offset))
    return findings
