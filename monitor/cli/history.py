"""``monitor events | diff | report | restore``: reading what happened and getting copies back."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from monitor.cli import app, console, err_console, fail, opened, time_option
from monitor.clock import SystemClock, iso

if TYPE_CHECKING:
    from sqlmodel import Session

    from monitor.archive.restore import Form
    from monitor.archive.warc import WarcArchive
    from monitor.compare import Comparison
    from monitor.report import ReportEntry
    from monitor.store.models import Source, Version

SourceArg = Annotated[str, typer.Argument(help="Source id or URL.", show_default=False)]


@app.command()
def events(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Only events at or after this ISO time.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (changed, dead, …).")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source (id or URL).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many (newest kept).")] = 1000,
) -> None:
    """What happened: changes, deaths, recoveries, moves, walls, outages."""
    from rich.table import Table
    from sqlmodel import col, select

    from monitor.events import event_json
    from monitor.store import session
    from monitor.store.models import Event
    from monitor.store.sources import find_source

    since_at = time_option(since, "--since")
    with opened(ctx) as home, session(home.engine) as db:
        query = select(Event).order_by(col(Event.at).desc(), col(Event.id).desc()).limit(limit)
        if since_at:
            query = query.where(col(Event.at) >= since_at)
        if kind:
            query = query.where(col(Event.kind) == kind)
        if source:
            query = query.where(col(Event.source_id) == find_source(db, source).id)
        rows = list(reversed(db.exec(query).all()))
    if as_json:
        for event in rows:
            sys.stdout.write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
        return
    table = Table(pad_edge=False)
    for name in ("at", "kind", "severity", "source", "summary"):
        table.add_column(name, overflow="fold", no_wrap=name in ("at", "kind"))
    for event in rows:
        table.add_row(iso(event.at) or "", event.kind, event.severity,
                      f"#{event.source_id}" if event.source_id else "-", event.summary)
    console.print(table if rows else "No events.")


def _version(db: Session, source: Source, number: int | None, default_offset: int) -> Version:
    from sqlmodel import col, select

    from monitor.store.models import Version

    query = select(Version).where(col(Version.source_id) == source.id)
    if number is not None:
        found = db.exec(query.where(col(Version.number) == number)).first()
        if found is None:
            fail(f"#{source.id} has no version {number} (it has {source.version_count})")
        return found
    versions = db.exec(query.order_by(col(Version.number).desc()).limit(2)).all()
    if len(versions) <= default_offset:
        fail(f"#{source.id} has {len(versions)} version(s): nothing to compare yet")
    return versions[default_offset]


@app.command()
def diff(
    ctx: typer.Context,
    source: SourceArg,
    from_: Annotated[str | None, typer.Option("--from", help="Older version number, or 'cited': the "
                                              "copy nearest the source's cited_at (ours, or a public "
                                              "archive's).")] = None,
    to: Annotated[int | None, typer.Option(help="Newer version number (default: latest).")] = None,
    plain: Annotated[bool, typer.Option(help="[-deleted-]{+inserted+} marks, no color.")] = False,
) -> None:
    """Word-level diff of the article text between two versions (default: the last change)."""
    from monitor.compare import compare
    from monitor.store import session
    from monitor.store.sources import find_source
    from monitor.versions import content_of

    if from_ == "cited":
        _diff_cited(ctx, source, to, plain)
        return
    if from_ is not None and not from_.isdigit():
        fail(f"--from must be a version number or 'cited', not {from_!r}")
    older = int(from_) if from_ is not None else None
    with opened(ctx) as home, session(home.engine) as db:
        found = find_source(db, source)
        after = _version(db, found, to, 0)
        before = _version(db, found, older, 1) if older is not None or to is None else \
            _version(db, found, after.number - 1, 0)
    comparison = compare(content_of(before), content_of(after))
    header = (f"#{found.id} {found.url}\nversion {before.number} ({iso(before.first_seen)}) → "
              f"version {after.number} ({iso(after.first_seen)})")
    _show_diff(header, comparison, plain)


def _diff_cited(ctx: typer.Context, source: str, to: int | None, plain: bool) -> None:
    """``diff --from cited``: the copy nearest cited_at (ours or public) against ``to``."""
    import asyncio

    from monitor.archive.cited import NoCitedCopy, cited_copy
    from monitor.compare import compare
    from monitor.extract import Extractor
    from monitor.store import session
    from monitor.store.sources import find_source
    from monitor.versions import content_of

    with opened(ctx) as home, session(home.engine) as db:
        found = find_source(db, source)
        if found.cited_at is None:
            fail(f"#{found.id} {found.url} has no cited_at: set it with 'monitor add URL "
                 "--cited-at T' or cited_at in sources.toml")
        after = _current_or(db, found, to)
        extractor = Extractor(1)
        try:
            copy = asyncio.run(cited_copy(home.settings, db, found, extractor))
        except NoCitedCopy as exc:
            fail(str(exc))
        finally:
            extractor.close()
    for note in copy.notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
    header = (f"#{found.id} {found.url}\ncited {iso(found.cited_at)}: {copy.label} → "
              f"version {after.number} ({iso(after.first_seen)})")
    _show_diff(header, compare(copy.content, content_of(after)), plain)


def _current_or(db: Session, source: Source, number: int | None) -> Version:
    """Version ``number``, or the version the page shows now."""
    from monitor.store.models import Version

    if number is not None:
        return _version(db, source, number, 0)
    current = db.get(Version, source.current_version_id) if source.current_version_id else None
    if current is None:
        fail(f"#{source.id} {source.url} has no version of its own to compare with "
             "('monitor restore --public' may still get a public copy)")
    return current


def _show_diff(header: str, comparison: Comparison, plain: bool) -> None:
    from monitor.report import render_plain, render_terminal

    if plain or not console.is_terminal:
        sys.stdout.write(header + "\n" + render_plain(comparison) + "\n")
    else:
        console.print(header, highlight=False)
        console.print(render_terminal(comparison))


@app.command()
def report(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")] = Path(
        "report.html"),
    since: Annotated[str | None, typer.Option(help="Changes at or after this time "
                                                   "(default: 7 days ago).")] = None,
) -> None:
    """Write a self-contained HTML report of recent changes, with the archived copies beside it."""
    from monitor.report import render_html_report
    from monitor.store import session

    now = SystemClock().now()
    since_at = time_option(since, "--since") or now - timedelta(days=7)
    copies = output.with_name(output.stem + "_copies")
    with opened(ctx) as home, session(home.engine) as db:
        archive = home.open_archive()
        try:
            entries = _report_entries(db, archive, since_at, copies)
        finally:
            archive.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    html = render_html_report(entries, title="Changes in cited sources", generated_at=now)
    output.write_text(html, encoding="utf-8")
    console.print(f"wrote {output} ({len(entries)} changes since {iso(since_at)})", highlight=False)


def _report_entries(
    db: Session, archive: WarcArchive, since: datetime, copies: Path
) -> list[ReportEntry]:
    from sqlmodel import col, select

    from monitor.compare import compare
    from monitor.report import ReportEntry
    from monitor.store.models import Event, Source, Version
    from monitor.versions import content_of

    query = (select(Event).where(col(Event.kind) == "changed").where(col(Event.at) >= since)
             .order_by(col(Event.at).desc()))
    entries = []
    for event in db.exec(query).all():
        source = db.get(Source, event.source_id)
        before = db.get(Version, event.version_before) if event.version_before else None
        after = db.get(Version, event.version_after) if event.version_after else None
        if source is None or before is None or after is None:
            continue
        entries.append(ReportEntry(
            source_id=source.id or 0, outlet=source.outlet or urlsplit(source.url).hostname,
            title=after.title or source.url,
            url=source.url, at=event.at, comparison=compare(content_of(before), content_of(after)),
            before_label=f"version {before.number}, captured {iso(before.first_seen)}",
            after_label=f"version {after.number}, captured {iso(after.first_seen)}",
            before_link=_copy(db, archive, before, copies),
            after_link=_copy(db, archive, after, copies),
        ))
    return entries


def _copy(db: Session, archive: WarcArchive, version: Version, copies: Path) -> str | None:
    """Write the archived HTML of the capture that introduced ``version``; return its link
    relative to the report file."""
    from monitor.check import stored_of
    from monitor.store.models import Capture

    capture = db.get(Capture, version.capture_id) if version.capture_id else None
    if capture is None or capture.record_type != "response":
        return None
    copies.mkdir(parents=True, exist_ok=True)
    path = copies / f"source{version.source_id}-v{version.number}.html"
    if not path.exists():
        path.write_bytes(archive.read_payload(stored_of(capture).response))
    return f"{copies.name}/{path.name}"


@app.command()
def restore(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Argument(help="Source id or URL (or --all).",
                                                 show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every source, into the folder -o names, "
                                                     "with an index.html.")] = False,
    at: Annotated[str | None, typer.Option(help="Latest copy at or before this ISO time.")] = None,
    as_: Annotated[str, typer.Option("--as", help="html (exact bytes), text, readable (clean page "
                                                  "with an 'archived copy' banner) or warc.")] = "html",
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="File to write (default: stdout); with --all, "
                                                     "the folder.")] = None,
    public: Annotated[bool, typer.Option(
        "--public", help="A public archive's copy instead (found through the Memento aggregator; "
        "e.g. for a link that died before we first saw it): its exact bytes, the latest at or "
        "before --at or cited_at.")] = False,
) -> None:
    """Get the archived copy of a source back, as it was at a time (--all: every source)."""
    from monitor.archive.restore import FORMS, NothingArchived, find_copy, restore_bytes
    from monitor.archive.warc import ArchiveError
    from monitor.store import session
    from monitor.store.sources import find_source

    if as_ not in FORMS:
        fail(f"--as must be {', '.join(FORMS[:-1])} or {FORMS[-1]}, not {as_!r}")
    at_time = time_option(at, "--at", until=True)
    if all_:
        _restore_set(ctx, source, at_time, as_, output)
        return
    if source is None:
        fail("name a source (id or URL), or --all for every source")
    if public:
        _restore_public(ctx, source, at_time, as_, output)
        return
    with opened(ctx) as home, session(home.engine) as db:
        found = find_source(db, source)
        archive = home.open_archive()
        try:
            copy = find_copy(db, found, at_time)
            data = restore_bytes(db, archive, found, copy, as_)
        except NothingArchived as exc:
            fail(f"{exc} (--public: a public archive's copy)")
        except ArchiveError as exc:
            fail(str(exc))
        finally:
            archive.close()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    console.print(f"wrote {output}: #{found.id} as captured {iso(copy.capture.at)} "
                  f"({len(data)} bytes, {as_})", highlight=False)


def _restore_public(ctx: typer.Context, source: str, at: datetime | None, form: str,
                    output: Path | None) -> None:
    """``restore --public``: a public archive's bytes, and a line saying where they came from."""
    import asyncio

    from monitor.archive.cited import public_copy_bytes
    from monitor.archive.public import PublicArchiveError
    from monitor.store import session
    from monitor.store.sources import find_source

    if form != "html":
        fail("--public gives the public archive's exact bytes: use --as html")
    with opened(ctx) as home, session(home.engine) as db:
        found = find_source(db, source)
        try:
            memento, data = asyncio.run(public_copy_bytes(home.settings, found, at))
        except PublicArchiveError as exc:
            fail(str(exc))
    where = (f"public copy of #{found.id} {found.url} from {memento.archive}, captured "
             f"{iso(memento.at)} ({memento.uri})")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        err_console.print(where, highlight=False, soft_wrap=True)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    console.print(f"wrote {output}: {where}, {len(data)} bytes", highlight=False, soft_wrap=True)


def _restore_set(ctx: typer.Context, source: str | None, at: datetime | None, form: Form,
                 folder: Path | None) -> None:
    """``restore --all``: every source (paused and removed ones too: their history is kept
    to be restored) into ``folder``, with an index; exit 1 when some had nothing."""
    from sqlmodel import col, select

    from monitor.archive.restore_set import INDEX, restore_all, write_index
    from monitor.store import session
    from monitor.store.models import Source

    if source is not None:
        fail("give a source or --all, not both")
    if folder is None:
        fail("restore --all needs -o FOLDER")
    if folder.exists() and not folder.is_dir():
        fail(f"-o {folder}: is a file, not a folder")
    with opened(ctx) as home, session(home.engine) as db:
        if folder.resolve().is_relative_to(home.settings.archive_dir.resolve()):
            fail(f"-o {folder}: inside the archive ({home.settings.archive_dir}); choose another folder")
        sources = list(db.exec(select(Source).order_by(col(Source.id))).all())
        if not sources:
            fail("no sources to restore (add some with 'monitor add')")
        archive = home.open_archive()
        try:
            entries = restore_all(db, archive, sources, at, form, folder)
        finally:
            archive.close()
        write_index(folder, entries, at, form, SystemClock().now())
    missing = [entry for entry in entries if entry.file is None]
    for entry in missing:
        console.print(f"nothing restored for #{entry.source.id}: {entry.problem}", highlight=False,
                      soft_wrap=True)
    console.print(f"wrote {folder / INDEX}: {len(entries) - len(missing)} of {len(entries)} sources "
                  f"restored ({form})", highlight=False, soft_wrap=True)
    if missing:
        raise typer.Exit(1)
