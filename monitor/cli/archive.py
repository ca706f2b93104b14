"""``monitor export | verify | gc``: the archive as a whole — package it, prove it, prune it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli import app, console, err_console, fail, is_terminal, opened, time_option
from monitor.clock import SystemClock

if TYPE_CHECKING:
    from monitor.archive.fixity import FixityReport
    from monitor.archive.fixity import Progress as FixityProgress
    from monitor.archive.wacz import Exported, Plan


@app.command()
def verify(
    ctx: typer.Context,
    files: Annotated[list[Path] | None, typer.Argument(
        help="WARC/ARC files to check instead of the archive (e.g. received from elsewhere).",
        show_default=False)] = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only the records of this source (id or URL); repeatable.",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per problem.")] = False,
) -> None:
    """Fixity: re-read every archived record and check its digest; exit 1 on any problem.

    Reports records that are missing, altered (digest or identity differs), unreadable
    (torn, truncated) and references between rows that dangle. Changes nothing.
    """
    from monitor.archive.fixity import verify_archive, verify_files
    from monitor.store import session
    from monitor.store.sources import find_source

    if files and source:
        fail("--source selects records of the archive; it cannot be combined with FILE arguments")
    if files:
        report = _with_progress("reading", lambda progress: verify_files(files, progress))
        _print_report(report, as_json, verb="read")
        return
    with opened(ctx) as home:
        with session(home.engine) as db:
            ids = [find_source(db, ref).id or 0 for ref in source] if source else None
        report = _with_progress("verifying", lambda progress: verify_archive(
            home.engine, home.settings.warc_dir, ids, progress, store=home.object_store()))
    _print_report(report, as_json)


def _with_progress(label: str, work: Callable[[FixityProgress | None], FixityReport]) -> FixityReport:
    """Run ``work`` with a progress bar on a terminal (none when piped)."""
    if not is_terminal():
        return work(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return work(advance)


def _print_report(report: FixityReport, as_json: bool, verb: str = "verified") -> None:
    """One line (or JSON object) per finding, then the summary; exit 1 if anything is wrong."""
    for finding in report.findings:
        if as_json:
            sys.stdout.write(json.dumps(finding.as_json(), ensure_ascii=False) + "\n")
        else:
            console.print(finding.line(), highlight=False, markup=False, soft_wrap=True)
    summary = report.summary(verb)
    if as_json:
        err_console.print(summary, highlight=False, markup=False, soft_wrap=True)
    else:
        console.print(summary, highlight=False, markup=False, soft_wrap=True)
    if report.problems:
        raise typer.Exit(1)


@app.command()
def gc(
    ctx: typer.Context,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", help="Prune compact records older than this (default: archive.gc_compact_after).",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be pruned.")] = False,
) -> None:
    """Retention: prune old compact records (unchanged checks); never a full response or evidence.

    Full responses, failed fetches and every capture a version or event points to stay.
    """
    from monitor.archive.gc import collect
    from monitor.settings import format_duration, parse_duration

    with opened(ctx) as home:
        if home.settings.archive.url:
            fail(f"monitor gc prunes a local archive only; archive.url is set "
                 f"({home.settings.archive.url}), so files are in object storage")
        try:
            age = parse_duration(older_than) if older_than else home.settings.archive.gc_compact_after
        except ValueError as exc:
            fail(f"--older-than: {exc}")
        report = collect(home.engine, home.settings.warc_dir, age, SystemClock().now(), dry_run=dry_run)
    verb = "would prune" if dry_run else "pruned"
    console.print(f"{verb} {report.captures} compact checks older than {format_duration(age)}: "
                  f"{report.records} WARC records, {report.bytes_freed} bytes, "
                  f"{report.files_rewritten} file{'' if report.files_rewritten == 1 else 's'} rewritten, "
                  f"{report.files_removed} removed",
                  highlight=False, soft_wrap=True)
    for line in report.left_alone:
        err_console.print(f"left alone: {line}", highlight=False)


@app.command()
def export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="The .wacz file to write.",
                                         show_default=False)],
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (id or URL); repeatable.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option(help="Only captures at or after this ISO time.",
                                              show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help="Only captures at or before this ISO time "
                                                   "(a date means its end).", show_default=False)] = None,
) -> None:
    """Package archived captures as a WACZ file, the format ReplayWeb.page opens.

    Records are copied as stored. A revisit or compact capture brings along the full
    response it stands for, even one from before --since.
    """
    from monitor.archive.wacz import NothingToExport, Selection, export_wacz, plan_export
    from monitor.archive.warc import ArchiveError
    from monitor.store import session
    from monitor.store.sources import find_source

    if output.suffix.lower() != ".wacz":
        fail(f"-o {output}: the file name must end in .wacz")
    selection = Selection(since=time_option(since, "--since"),
                          until=time_option(until, "--until", until=True))
    if selection.since and selection.until and selection.since > selection.until:
        fail(f"--since {since} is after --until {until}")
    with opened(ctx) as home, session(home.engine) as db:
        ids = tuple(find_source(db, ref).id or 0 for ref in source or [])
        selection = Selection(ids, selection.since, selection.until)
        archive = home.open_archive()
        try:
            plan = plan_export(db, selection)
            exported = _export(lambda progress: export_wacz(
                db, archive, plan, output, now=SystemClock().now(), progress=progress,
                title=f"source-monitor export: {selection.describe()}"), plan)
        except (NothingToExport, ArchiveError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"-o {output}: {exc.strerror or exc}")
        finally:
            archive.close()
    console.print(exported.line(), highlight=False)


def _export(work: Callable[[Callable[[int, int], None] | None], Exported], plan: Plan) -> Exported:
    """Run the export with a progress bar on a terminal (none when piped)."""
    if not is_terminal():
        return work(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("exporting", total=len(plan.entries))
        return work(lambda done, total: bar.update(task, completed=done, total=total))
