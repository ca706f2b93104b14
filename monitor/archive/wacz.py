"""WACZ export: chosen captures as one package that ReplayWeb.page and pywb open.

WACZ 1.1.1 (https://specs.webrecorder.net/wacz/1.1.1/) is a ZIP holding
``archive/data.warc.gz`` (the records), ``indexes/index.cdx`` (a sorted CDXJ index of
them), ``pages/pages.jsonl`` (the entry points: one page per source),
``datapackage.json`` (every file's size and sha256) and ``datapackage-digest.json``
(the hash of that manifest).

The records are copied as they are stored — each one gzip member, byte for byte
(``WarcArchive.read_raw``), so the digests the WARC states still hold. A capture kept
compactly (a ``metadata`` record or the row alone) and a revisit stand for the content
of an earlier full response: that response travels with them even when it is older
than the time range, or the package could not replay what they stand for.

Nothing is held in memory but the list of capture ids: the WARC is written record by
record to a scratch file beside the destination, indexed from there by cdxj-indexer,
then streamed into the ZIP, which replaces the destination only once complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import ColumnElement, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from warcio.warcwriter import WARCWriter

from monitor import __version__
from monitor.archive.warc import WARC_VERSION, ArchiveError, RecordRef, WarcArchive
from monitor.clock import iso
from monitor.store.models import Capture, Source, Version

WACZ_VERSION = "1.1.1"
WARC_NAME = "data.warc.gz"
SOFTWARE = f"source-monitor {__version__}"
REPLAYABLE = ("response", "revisit")  # HTTP captures a replay tool can serve
_BATCH = 500  # ids per IN (...) query: well under SQLite's bound-parameter limit
_COPY_BLOCK = 1 << 20
_ZIP64_FROM = 1 << 31  # entries this large need ZIP64 headers

Progress = Callable[[int, int], None]  # (records copied, records to copy)


class NothingToExport(LookupError):
    """The selection holds no archived capture."""


@dataclass(frozen=True)
class Selection:
    """Which captures to export: of these sources (none named: all), in this time range."""

    source_ids: tuple[int, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> str:
        parts = [f"sources {', '.join(f'#{i}' for i in self.source_ids)}" if self.source_ids
                 else "all sources"]
        if self.since:
            parts.append(f"since {iso(self.since)}")
        if self.until:
            parts.append(f"until {iso(self.until)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class _Entry:
    """What the plan knows of one capture (a few ints, not the row)."""

    id: int
    at: datetime
    source_id: int
    record_type: str | None
    status: int | None
    refers_to: int | None


@dataclass
class Plan:
    """The captures whose records go into the package, in time order."""

    entries: list[_Entry] = field(default_factory=list)

    @property
    def source_ids(self) -> set[int]:
        return {e.source_id for e in self.entries}


@dataclass(frozen=True)
class Exported:
    path: Path
    captures: int
    sources: int
    bytes: int

    def line(self) -> str:
        return (f"wrote {self.path}: {_count(self.captures, 'capture')} of "
                f"{_count(self.sources, 'source')}, {self.bytes} bytes")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_COLUMNS = (col(Capture.id), col(Capture.at), col(Capture.source_id), col(Capture.record_type),
            col(Capture.status), col(Capture.refers_to_capture_id))


def _entries(db: Session, *where: ColumnElement[bool]) -> list[_Entry]:
    """Plan entries straight from the table (SQLAlchemy core: six columns, no ORM rows)."""
    rows = db.connection().execute(sa_select(*_COLUMNS).where(*where))
    return [_Entry(i or 0, at, source, kind, status, refers) for i, at, source, kind, status, refers in rows]


def plan_export(db: Session, selection: Selection) -> Plan:
    """The selected captures that have records, plus every full response they stand for."""
    where = [or_(col(Capture.record_type).is_not(None), col(Capture.refers_to_capture_id).is_not(None))]
    if selection.source_ids:
        where.append(col(Capture.source_id).in_(selection.source_ids))
    if selection.since is not None:
        where.append(col(Capture.at) >= selection.since)
    if selection.until is not None:
        where.append(col(Capture.at) <= selection.until)
    chosen = {e.id: e for e in _entries(db, *where)}
    if not chosen:
        raise NothingToExport(f"nothing archived to export ({selection.describe()})")
    _add_originals(db, chosen)
    entries = sorted((e for e in chosen.values() if e.record_type), key=lambda e: (e.at, e.id))
    return Plan(entries)


def _add_originals(db: Session, chosen: dict[int, _Entry]) -> None:
    """Follow refers_to until every capture's full response is in ``chosen`` (or missing)."""
    seen: set[int] = set(chosen)
    wanted = {e.refers_to for e in chosen.values() if e.refers_to is not None} - seen
    while wanted:
        seen |= wanted
        found = [e for batch in _batches(sorted(wanted)) for e in _entries(db, col(Capture.id).in_(batch))]
        chosen.update((e.id, e) for e in found)
        wanted = {e.refers_to for e in found if e.refers_to is not None} - seen


def _batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start:start + _BATCH]


def export_wacz(
    db: Session, archive: WarcArchive, plan: Plan, destination: Path, *, now: datetime,
    title: str, progress: Progress | None = None,
) -> Exported:
    """Write the package to ``destination`` (replaced only when complete)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".export-") as scratch:
        warc, index = Path(scratch) / WARC_NAME, Path(scratch) / "index.cdx"
        records = _write_warc(db, archive, plan, warc, title, progress)
        _write_index(warc, index)
        files = [
            ("archive/" + WARC_NAME, warc.open("rb")),
            ("indexes/index.cdx", index.open("rb")),
            ("pages/pages.jsonl", _pages(db, plan)),
        ]
        partial = Path(scratch) / destination.name
        _zip(partial, files, now, title, f"{records} WARC records of {len(plan.entries)} captures")
        os.replace(partial, destination)
    return Exported(destination, len(plan.entries), len(plan.source_ids), destination.stat().st_size)


def _write_warc(db: Session, archive: WarcArchive, plan: Plan, path: Path, title: str,
                progress: Progress | None) -> int:
    """A warcinfo record, then each capture's request and main record as stored; returns the count."""
    count = 1
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version=WARC_VERSION)
        writer.write_record(writer.create_warcinfo_record(WARC_NAME, {
            "software": SOFTWARE, "format": "WARC File Format 1.1", "description": title,
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        }))
        for done, capture in enumerate(_captures(db, plan), start=1):
            for ref in _refs(capture):
                out.write(archive.read_raw(ref))
                count += 1
            if progress:
                progress(done, len(plan.entries))
    return count


def _captures(db: Session, plan: Plan) -> Iterator[Capture]:
    """The plan's capture rows in its order, loaded a batch at a time."""
    for batch in _batches([e.id for e in plan.entries]):
        rows = {c.id: c for c in db.exec(select(Capture).where(col(Capture.id).in_(batch)))}
        for capture_id in batch:
            yield rows[capture_id]
        db.expunge_all()  # keep the session from holding every row it loaded


def _refs(capture: Capture) -> list[RecordRef]:
    """Where the capture's records are: the request (if one was kept), then the main record."""
    if not capture.warc_file or capture.warc_offset is None or not capture.warc_length:
        raise ArchiveError(f"capture #{capture.id}: its {capture.record_type} record has no location")
    refs = [RecordRef(capture.warc_file, capture.warc_offset, capture.warc_length)]
    if capture.request_offset is not None and capture.request_length:
        refs.insert(0, RecordRef(capture.warc_file, capture.request_offset, capture.request_length))
    return refs


def _write_index(warc: Path, index: Path) -> None:
    """The sorted CDXJ index WACZ asks for; ``filename`` is relative to ``archive/``."""
    from cdxj_indexer.main import CDXJIndexer  # here: its 0.3 s import would slow every command

    try:
        with index.open("w", encoding="utf-8") as out:
            CDXJIndexer(out, [str(warc)], sort=True, filename=WARC_NAME).process_all()
    except Exception as exc:  # warcio raises several kinds on a damaged record
        raise ArchiveError(f"cannot index the exported records ({exc}); run 'monitor verify'") from exc


def _pages(db: Session, plan: Plan) -> BinaryIO:
    """pages.jsonl: a header, then each source at its latest replayable capture in the package."""
    lines = [{"format": "json-pages-1.0", "id": "pages", "title": "Cited sources"}]
    for entry in _page_entries(plan):
        capture, source = db.get(Capture, entry.id), db.get(Source, entry.source_id)
        assert capture is not None and source is not None
        version = db.get(Version, capture.version_id) if capture.version_id else None
        lines.append({"id": f"source-{source.id}", "url": capture.final_url or capture.url,
                      "ts": iso(capture.at) or "", "title": _title(source, version)})
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    return io.BytesIO(text.encode("utf-8"))


def _page_entries(plan: Plan) -> list[_Entry]:
    """Per source, the latest replayable capture, preferring a full 2xx response, then any
    successful one (a revisit of it, a 304), then whatever was replayable (an error page)."""
    best: dict[int, _Entry] = {}
    for entry in plan.entries:  # in time order: later ones win within the same rank
        if entry.record_type not in REPLAYABLE:
            continue
        held = best.get(entry.source_id)
        if held is None or _rank(entry) >= _rank(held):
            best[entry.source_id] = entry
    return [best[sid] for sid in sorted(best)]


def _rank(entry: _Entry) -> int:
    if entry.status is None or not 200 <= entry.status < 400:
        return 0
    return 2 if entry.record_type == "response" and entry.status < 300 else 1


def _title(source: Source, version: Version | None) -> str:
    return (version.title if version else "") or source.title or source.url


def _zip(path: Path, files: Iterable[tuple[str, BinaryIO]], now: datetime, title: str,
         description: str) -> None:
    """The package: every file stored (WACZ wants WARC and index uncompressed, for random
    access), then datapackage.json listing them with size and sha256, then its digest."""
    stamp = now.timetuple()[:6]
    resources = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as package:
        for name, source in files:
            with source:
                size, digest = _store(package, zipfile.ZipInfo(name, stamp), source)
            resources.append({"name": Path(name).name.lower(), "path": name,
                              "hash": f"sha256:{digest}", "bytes": size})
        manifest = json.dumps({
            "profile": "data-package", "wacz_version": WACZ_VERSION, "title": title,
            "description": description, "created": iso(now), "software": SOFTWARE,
            "resources": resources,
        }, indent=2).encode("utf-8")
        package.writestr(zipfile.ZipInfo("datapackage.json", stamp), manifest)
        digest_file = {"path": "datapackage.json", "hash": f"sha256:{hashlib.sha256(manifest).hexdigest()}"}
        package.writestr(zipfile.ZipInfo("datapackage-digest.json", stamp),
                         json.dumps(digest_file, indent=2).encode("utf-8"))


def _store(package: zipfile.ZipFile, info: zipfile.ZipInfo, source: BinaryIO) -> tuple[int, str]:
    """Copy ``source`` into the package uncompressed; its size and sha256 (hex)."""
    size, digest = 0, hashlib.sha256()
    big = isinstance(source, io.BufferedReader) and os.fstat(source.fileno()).st_size >= _ZIP64_FROM
    with package.open(info, "w", force_zip64=big) as out:
        while block := source.read(_COPY_BLOCK):
            out.write(block)
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()

