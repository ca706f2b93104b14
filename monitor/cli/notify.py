"""``monitor notify``: try the notifiers, and see the messages that have not gone out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from monitor import __version__
from monitor.cli import app, console, fail, opened
from monitor.clock import SystemClock, iso

if TYPE_CHECKING:
    from monitor.home import Home

UNSENT = ("pending", "sending", "failed", "given-up")


@app.command()
def notify(
    ctx: typer.Context,
    test: Annotated[bool, typer.Option(
        "--test", help="Send a test message to each notifier and say which worked (exit 1 if any "
        "failed).")] = False,
    show_all: Annotated[bool, typer.Option(
        "--all", help="List sent and dropped messages too.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many messages (newest kept).")] = 50,
) -> None:
    """Notifications: the messages not sent yet (and why), or --test the notifiers."""
    with opened(ctx) as home:
        if test:
            failed = _test(home)
            if failed:
                fail(f"{failed} of {len(home.settings.notify.urls)} notifiers failed", code=1)
            return
        _list(home, show_all, limit)


def _test(home: Home) -> int:
    """Send the test message to each notifier; print one line each; return how many failed."""
    import asyncio

    from monitor.notify.send import send_message  # Apprise
    from monitor.notify.step import targets_of

    policy = home.settings.notify
    if not policy.urls:
        fail("no notifiers: set notify.urls (e.g. MONITOR_NOTIFY__URLS='[\"ntfy://ntfy.sh/TOPIC\"]')")
    targets = targets_of(policy)
    title = "source-monitor: test notification"
    body = (f"This is a test from source-monitor {__version__} ({home.settings.home}) at "
            f"{iso(SystemClock().now())}. It will notify: {', '.join(policy.kinds) or 'nothing'}.")

    async def send_all() -> list[str | None]:
        return list(await asyncio.gather(*(
            send_message(target, title, body, "test", policy.timeout) for target in targets)))

    errors = asyncio.run(send_all())
    for target, error in zip(targets, errors, strict=True):
        line = f"ok      {target.label}" if error is None else f"FAILED  {target.label}: {error}"
        console.print(line, highlight=False, soft_wrap=True)
    return sum(error is not None for error in errors)


def _list(home: Home, show_all: bool, limit: int) -> None:
    from rich.table import Table
    from sqlmodel import col, select

    from monitor.store import session
    from monitor.store.models import Notification

    with session(home.engine) as db:
        query = select(Notification).order_by(col(Notification.id).desc()).limit(limit)
        if not show_all:
            query = query.where(col(Notification.status).in_(UNSENT))
        rows = list(reversed(db.exec(query).all()))
    if not home.settings.notify.urls:
        console.print("No notifiers configured (notify.urls).", highlight=False)
    if not rows:
        console.print("No messages." if show_all else "No messages waiting: everything was sent.")
        return
    table = Table(pad_edge=False)
    for name in ("id", "created", "status", "tries", "to", "message", "next try / error"):
        table.add_column(name, overflow="fold", no_wrap=name in ("id", "created", "status"))
    for row in rows:
        when = iso(row.sent_at) if row.status == "sent" else iso(row.next_attempt_at)
        detail = " ".join(part for part in (when, row.last_error) if part)
        table.add_row(str(row.id), iso(row.created_at) or "", row.status, str(row.attempts),
                      row.target, row.title, detail)
    console.print(table)
