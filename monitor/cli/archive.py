"""``monitor export | verify | gc``: the archive as a whole — package it, prove it, prune it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from monitor.archive.wacz import Exported, NothingToExport, Plan, Selection, export_wacz, plan_export
from monitor.archive.warc import ArchiveError
from monitor.cli import app, console, fail, is_terminal, opened
from monitor.clock import SystemClock, parse_time, parse_until
from monitor.store import session
from monitor.store.sources import find_source


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
    if output.suffix.lower() != ".wacz":
        fail(f"-o {output}: the file name must end in .wacz")
    selection = Selection(since=_when(since, "--since"), until=_when(until, "--until", end=True))
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


def _when(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO time option; ``end`` reads it as the end of the precision given (a day, a minute)."""
    if value is None:
        return None
    try:
        return parse_until(value) if end else parse_time(value)
    except ValueError as exc:
        fail(f"{name}: {exc}")


def _export(work: Callable[[Callable[[int, int], None] | None], Exported], plan: Plan) -> Exported:
    """Run the export with a progress bar on a terminal (none when piped)."""
    if not is_terminal():
        return work(None)
    columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("exporting", total=len(plan.entries))
        return work(lambda done, total: bar.update(task, completed=done, total=total))
