"""Restoring a whole set: every source as of a time, into a folder, with an index page.

Each source gets one file with a stable name (``0003-apnews.com-tiktok-refugees.html``:
id, host, last path segment), so restoring again into the same folder replaces the
same files. ``index.html`` lists every source: a link to its copy with the URL, title,
capture time and link health, or a line saying why there is nothing — never a silent gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlmodel import Session

from monitor.archive.readable import TEMPLATES
from monitor.archive.restore import EXTENSIONS, Form, NothingArchived, Restored, find_copy, restore_bytes
from monitor.archive.warc import ArchiveError, WarcArchive
from monitor.clock import iso
from monitor.store.models import Source

INDEX = "index.html"
_UNSAFE = re.compile(r"[^a-z0-9.]+")  # a slug by hand: two lines, no library needed for it
_SLUG_MAX = 60


@dataclass(frozen=True)
class SetEntry:
    """One source of the set: its restored file, or the reason there is none."""

    source: Source
    copy: Restored | None = None
    file: str | None = None
    problem: str | None = None


def copy_name(source: Source, form: Form) -> str:
    """``<id>-<host>-<slug><ext>``: stable for a source, readable, safe on any file system."""
    parts = urlsplit(source.url)
    host = (parts.hostname or "host").removeprefix("www.")
    segments = [s for s in unquote(parts.path).split("/") if s]
    last = re.sub(r"\.(html?|php|aspx?|jsp)$", "", segments[-1].lower()) if segments else "index"
    slug = _UNSAFE.sub("-", last).strip("-.")[:_SLUG_MAX].strip("-.") or "index"
    return f"{source.id or 0:04d}-{_UNSAFE.sub('-', host)}-{slug}{EXTENSIONS[form]}"


def restore_all(
    db: Session, archive: WarcArchive, sources: list[Source], at: datetime | None, form: Form,
    directory: Path,
) -> list[SetEntry]:
    """Write every source's copy as of ``at`` into ``directory``; one entry per source."""
    directory.mkdir(parents=True, exist_ok=True)
    return [_restore_one(db, archive, source, at, form, directory) for source in sources]


def _restore_one(
    db: Session, archive: WarcArchive, source: Source, at: datetime | None, form: Form, directory: Path,
) -> SetEntry:
    try:
        copy = find_copy(db, source, at)
        data = restore_bytes(db, archive, source, copy, form)
    except (NothingArchived, ArchiveError) as exc:
        return SetEntry(source, problem=str(exc))
    name = copy_name(source, form)
    (directory / name).write_bytes(data)
    return SetEntry(source, copy, name)


def write_index(
    directory: Path, entries: list[SetEntry], at: datetime | None, form: Form, generated_at: datetime,
) -> Path:
    """``index.html`` in ``directory``: every entry, restored or not (self-contained page)."""
    path = directory / INDEX
    page = TEMPLATES.get_template("restored_index.html").render(
        rows=[_row(entry) for entry in entries], at=iso(at), form=form, generated=iso(generated_at),
        restored=sum(1 for e in entries if e.file), missing=sum(1 for e in entries if not e.file),
    )
    path.write_text(page, encoding="utf-8")
    return path


def _row(entry: SetEntry) -> dict[str, object]:
    source, copy = entry.source, entry.copy
    version = copy.version if copy else None
    return {
        "id": source.id, "url": source.url, "file": entry.file, "problem": entry.problem,
        "title": (version.title if version else None) or source.title or source.url,
        "outlet": source.outlet or urlsplit(source.url).hostname or "",
        "captured": iso(copy.capture.at) if copy else None,
        "unchanged_since": iso(copy.unchanged_since) if copy else None,
        "version": version.number if version else None,
        "health": source.health, "health_since": iso(source.health_since), "state": _watch_state(source),
    }


def _watch_state(source: Source) -> str | None:
    """Why a source is no longer checked (its copies are restored all the same)."""
    if not source.paused:
        return None
    return {"removed": "removed", "removed-from-config": "removed from config"}.get(
        source.paused_reason or "", "paused")
