"""Retention (``monitor gc``): prune old compact records, never evidence.

What goes: checks older than ``archive.gc_compact_after`` that only said "same as
before" — compact ``metadata`` records, row-only compact checks, and revisits — both
the Capture row and its WARC records. What always stays: full responses, failed
fetches, every capture a Version, an Event, a Source or another capture points to,
and each source's latest capture.

WARC files cannot lose a record in place, so a file with pruned records is copied
member by member (raw gzip bytes, nothing re-encoded) into a new file named with the
old file's timestamp, so names still sort by time. The order is crash-safe: the new
file is written and fsynced, then one transaction deletes the pruned rows and moves
every other row to the new file, then the old file is removed. A crash before the
commit leaves an unreferenced complete copy; after it, an unreferenced old file.
Files a writer holds (``flock``) and files the service did not write are left alone.
"""

from __future__ import annotations

import fcntl
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, func
from sqlmodel import Session, col, or_, select

from monitor.archive.warc import OWN_NAME, create_file, fsync_dir, member_spans
from monitor.store import session
from monitor.store.models import Capture, Event, Source, Version

_COPY = 1 << 20


@dataclass
class GcReport:
    captures: int = 0  # capture rows pruned (or that would be, in a dry run)
    records: int = 0  # WARC records dropped
    bytes_freed: int = 0
    files_rewritten: int = 0
    files_removed: int = 0  # nothing but their warcinfo record was left
    left_alone: list[str] = field(default_factory=list)  # one line per file not touched, and why


def collect(
    engine: Engine, warc_dir: Path, older_than: timedelta, now: datetime, *, dry_run: bool = False
) -> GcReport:
    """Prune compact records older than ``now - older_than``; ``dry_run`` only counts."""
    report = GcReport()
    with session(engine) as db:
        doomed = _prunable(db, now - older_than)
    by_file: dict[str | None, list[Capture]] = defaultdict(list)
    for capture in doomed:
        by_file[capture.warc_file].append(capture)
    rows_only = by_file.pop(None, [])
    if rows_only:
        report.captures += len(rows_only)
        if not dry_run:
            _delete_rows(engine, [c.id for c in rows_only])
    for name, captures in sorted(by_file.items()):
        assert name is not None
        _prune_file(engine, warc_dir, name, captures, report, dry_run)
    if not dry_run:
        _remove_empty_files(engine, warc_dir, report)
    return report


def _remove_empty_files(engine: Engine, warc_dir: Path, report: GcReport) -> None:
    """Remove the service's files that hold only a warcinfo record and no row points to.

    A writer's brand-new file looks like that too, but it holds the lock: left alone.
    """
    with session(engine) as db:
        referenced = set(db.exec(select(Capture.warc_file).distinct()).all())
    for path in sorted(warc_dir.glob("*.warc.gz")):
        if path.name in referenced or not OWN_NAME.fullmatch(path.name):
            continue
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            spans = member_spans(fh)
            if len(spans) != 1 or spans[0][1] != os.fstat(fh.fileno()).st_size:
                continue
            path.unlink()
        fsync_dir(warc_dir)
        report.files_removed += 1
        report.bytes_freed += spans[0][1]


def _prunable(db: Session, cutoff: datetime) -> list[Capture]:
    compact = or_(col(Capture.record_type).in_(["metadata", "revisit"]),
                  col(Capture.record_type).is_(None) & col(Capture.refers_to_capture_id).is_not(None))
    candidates = db.exec(select(Capture).where(col(Capture.at) < cutoff).where(compact)).all()
    keep = _protected(db)
    return [c for c in candidates if c.id not in keep]


def _protected(db: Session) -> set[int]:
    """Captures something points to: versions, events, sources, other captures; and the latest."""
    keep: set[int | None] = set(db.exec(select(Version.capture_id)).all())
    keep |= set(db.exec(select(Capture.refers_to_capture_id).distinct()).all())
    keep |= set(db.exec(select(func.max(Capture.id)).group_by(col(Capture.source_id))).all())
    for last, validators in db.exec(select(Source.last_response_capture_id, Source.validators_capture_id)):
        keep |= {last, validators}
    for details in db.exec(select(Event.details)).all():
        value = (details or {}).get("capture_id")
        if isinstance(value, int):
            keep.add(value)
    return {i for i in keep if i is not None}


def _delete_rows(engine: Engine, ids: list[int | None]) -> None:
    with session(engine) as db:
        for capture in db.exec(select(Capture).where(col(Capture.id).in_(ids))).all():
            db.delete(capture)
        db.commit()


def _prune_file(
    engine: Engine, warc_dir: Path, name: str, doomed: list[Capture], report: GcReport, dry_run: bool
) -> None:
    path = warc_dir / name
    match = OWN_NAME.fullmatch(name)
    if match is None:
        report.left_alone.append(f"{name}: not written by this service")
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as exc:
        report.left_alone.append(f"{name}: cannot open ({exc.strerror or exc})")
        return
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            report.left_alone.append(f"{name}: a writer holds it")
            return
        drop = {c.warc_offset for c in doomed} | {c.request_offset for c in doomed}
        spans = member_spans(fh)
        if not spans or spans[-1][1] != os.fstat(fh.fileno()).st_size:
            report.left_alone.append(f"{name}: does not read to the end (run monitor verify)")
            return
        dropped = [(start, end) for start, end in spans if start in drop]
        report.captures += len(doomed)
        report.records += len(dropped)
        report.bytes_freed += sum(end - start for start, end in dropped)
        if dry_run:
            return
        kept = [(start, end) for start, end in spans if start not in drop]
        if kept == spans[:1]:  # only the warcinfo record would be left: the file goes
            _commit_move(engine, name, None, {}, [c.id for c in doomed])
            report.files_removed += 1
            report.bytes_freed += spans[0][1]
        else:
            report.files_rewritten += 1
            new_name, moved = _copy_members(fh, warc_dir, match.group(1), kept)
            try:
                _commit_move(engine, name, new_name, moved, [c.id for c in doomed])
            except BaseException:
                (warc_dir / new_name).unlink(missing_ok=True)
                raise
    path.unlink()
    fsync_dir(warc_dir)


def _copy_members(
    src: BinaryIO, warc_dir: Path, stamp: str, spans: list[tuple[int, int]]
) -> tuple[str, dict[int, int]]:
    """Copy the kept gzip members into a new file; return its name and old → new offsets."""
    name, out = create_file(warc_dir, stamp)
    moved: dict[int, int] = {}
    with out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # recover() must not judge it half-written
        for start, end in spans:
            moved[start] = out.tell()
            src.seek(start)
            left = end - start
            while left:
                chunk = src.read(min(left, _COPY))
                out.write(chunk)
                left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    fsync_dir(warc_dir)
    return name, moved


def _commit_move(
    engine: Engine, old: str, new: str | None, moved: dict[int, int], doomed: list[int | None]
) -> None:
    """Delete the pruned rows; point every other row of ``old`` into ``new`` (None: none left)."""
    with session(engine) as db:
        for capture in db.exec(select(Capture).where(col(Capture.warc_file) == old)).all():
            if capture.id in doomed:
                db.delete(capture)
                continue
            assert new is not None, f"capture {capture.id} is still in {old}"
            updates: dict[str, Any] = {"warc_file": new}
            if capture.warc_offset is not None:
                updates["warc_offset"] = moved[capture.warc_offset]
            if capture.request_offset is not None:
                updates["request_offset"] = moved[capture.request_offset]
            capture.sqlmodel_update(updates)
            db.add(capture)
        db.commit()

