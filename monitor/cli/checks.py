"""``monitor run``, ``monitor check`` and ``monitor health``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli import app, console, fail, is_terminal, opened
from monitor.cli.web import HostOption, PortOption, listen
from monitor.clock import SystemClock

if TYPE_CHECKING:
    from monitor.check import CheckOutcome
    from monitor.home import Home
    from monitor.schedule import PassSummary
    from monitor.shards import ShardPool

log = logging.getLogger("monitor.cli")


def _prepare(home: Home) -> None:
    """What both run and check do first: sync the sources file, repair a torn archive, free
    the sources a killed process left leased."""
    from monitor.store import session
    from monitor.store.sources import release_orphaned

    clock = SystemClock()
    report = home.sync_sources(clock)
    if report and (report.added or report.updated or report.paused):
        log.info("sources file %s: %s", home.sources_file.path, report)
    archive = home.open_archive()
    try:
        for line in home.recover_archive(archive):
            log.warning("archive repaired: %s", line)
    finally:
        archive.close()
    with session(home.engine) as db:
        freed = release_orphaned(db)
    if freed:
        log.warning("released %s sources left leased by a monitor process that is gone", freed)


@app.command()
def run(
    ctx: typer.Context,
    web: Annotated[bool, typer.Option("--web", help="Also serve the dashboard (as monitor serve).")] = False,
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Run the daemon: check every source on its interval until SIGINT/SIGTERM (on PostgreSQL:
    dispatch the checks to monitor worker processes)."""
    import asyncio

    from monitor.daemon import Daemon
    from monitor.distributed import is_postgres

    with opened(ctx) as home:
        distributed = is_postgres(home.settings.db_url)
        if distributed and web:
            fail("monitor run --web: on PostgreSQL run monitor serve beside the dispatcher")
        sock = listen(home, host, port) if web else None
        _prepare(home)
        active = _active(home)
        if not active:
            log.warning("no active sources: add some with 'monitor add URL' or 'monitor import FILE'")
        if distributed:
            from monitor.distributed.worker import route_queue_logs, run_dispatcher

            route_queue_logs(ctx.obj.verbose)
            asyncio.run(run_dispatcher(home))
            return

        async def main() -> None:
            async with home.check_context() as check_ctx:
                if check_ctx.shards is not None:
                    check_ctx.shards.start_for(active)  # they get ready while the daemon starts
                if sock is None:
                    await Daemon(check_ctx).run()
                else:
                    from monitor.web.server import run_with_web

                    await run_with_web(check_ctx, home, sock)  # type: ignore[arg-type]

        asyncio.run(main())


@app.command()
def check(
    ctx: typer.Context,
    sources: Annotated[list[str] | None, typer.Argument(
        help="Sources to check (id or URL); default: every active source.",
        show_default=False)] = None,
) -> None:
    """Run one pass now: fetch, archive, compare and judge."""
    import asyncio

    if not ctx.obj.verbose:  # the events are printed below; the log need not repeat them
        logging.getLogger("monitor.schedule").setLevel(logging.ERROR)
    from monitor.shards import ShardPool

    with opened(ctx) as home:
        # a pass that will be split: its shard workers start now, and import and open their
        # context while this process prepares (each takes ~1 s before it can check)
        shards = ShardPool.for_settings(home.settings)
        if shards is not None:
            shards.start_for(len(sources) if sources else _active(home))
        try:
            _prepare(home)
            ids = _selected(home, sources or [])
            if not ids:
                console.print("No active sources. Add some with 'monitor add URL' or "
                              "'monitor import FILE'.")
                return
            summary = asyncio.run(_check(home, ids, shards))
        finally:
            if shards is not None:
                shards.close()
    _print_summary(summary)
    if summary.errors:
        fail(f"{summary.errors} checks failed inside the monitor (see the log above)", code=1)


def _active(home: Home) -> int:
    from sqlmodel import col, func, select

    from monitor.store import session
    from monitor.store.models import Source

    with session(home.engine) as db:
        return db.exec(select(func.count()).select_from(Source).where(col(Source.paused).is_(False))).one()


def _selected(home: Home, refs: list[str]) -> list[int]:
    from sqlmodel import col, select

    from monitor.store import session
    from monitor.store.models import Source
    from monitor.store.sources import find_source

    with session(home.engine) as db:
        if refs:
            return [find_source(db, ref).id or 0 for ref in refs]
        query = select(Source.id).where(col(Source.paused).is_(False)).order_by(col(Source.id))
        return [i for i in db.exec(query).all() if i is not None]


async def _check(home: Home, ids: list[int], shards: ShardPool | None) -> PassSummary:
    from monitor.schedule import run_pass

    async with home.check_context(shards=shards) as ctx:
        if not is_terminal():
            return await run_pass(ctx, ids)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("check", total=len(ids))

            def advance(_: CheckOutcome) -> None:
                bar.advance(task)

            return await run_pass(ctx, ids, advance)


def _print_summary(summary: PassSummary) -> None:
    for outcome in sorted(summary.outcomes, key=lambda o: o.source_id):
        for event in outcome.events:
            console.print(f"[bold]{event.kind}[/] #{outcome.source_id} {outcome.url}: "
                          f"{event.summary}", highlight=False)
    if summary.unlisted:
        console.print(f"… and the events of {summary.unlisted} more sources ('monitor events' "
                      "lists them all)", highlight=False)
    console.print(summary.line(), highlight=False)
    if summary.offline:
        console.print("The network looks unreachable from here: these failures are recorded, "
                      "and no source is judged dead for them.", highlight=False)


@app.command()
def health(ctx: typer.Context) -> None:
    """Exit 0 when a daemon is running and ticking in this home (container health check)."""
    from monitor.daemon import daemon_health

    with opened(ctx) as home:
        ok, message = daemon_health(home.settings.archive_dir, SystemClock().now())
    console.print(message, highlight=False)
    if not ok:
        raise typer.Exit(1)
