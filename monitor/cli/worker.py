"""``monitor worker``: run checks dispatched through PostgreSQL (``monitor run`` dispatches)."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli import app, fail, opened


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", min=1, help="Checks run at once (default: distributed.concurrency).",
        show_default=False)] = None,
    queues: Annotated[str, typer.Option(
        "--queues", help="Comma-separated queues to take jobs from: checks, dispatch.")] = "checks",
) -> None:
    """Run checks from the PostgreSQL queue until SIGINT/SIGTERM; start as many as you like."""
    import asyncio

    from monitor.distributed import is_postgres
    from monitor.distributed.app import needs_postgres  # procrastinate: only for this command
    from monitor.distributed.worker import route_queue_logs, run_worker

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(names) - {"checks", "dispatch"})
    if unknown or not names:
        fail(f"--queues: unknown queue {unknown[0] if unknown else queues!r} (known: checks, dispatch)")
    with opened(ctx) as home:
        if not is_postgres(home.settings.db_url):
            fail(needs_postgres(home.settings.db_url, "monitor worker"))
        route_queue_logs(ctx.obj.verbose)
        asyncio.run(run_worker(home, concurrency or home.settings.distributed.concurrency, names))
