"""``monitor add | remove | pause | resume | import | status``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli import app, console, fail, opened
from monitor.clock import SystemClock, iso, parse_time

if TYPE_CHECKING:
    from rich.table import Table
    from sqlmodel import Session

    from monitor.store.models import Host, Source

SourceArg = Annotated[str, typer.Argument(help="Source id or URL.", show_default=False)]


@app.command()
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The article URL to watch.", show_default=False)],
    title: Annotated[str | None, typer.Option(help="Title to show for it.")] = None,
    outlet: Annotated[str | None, typer.Option(help="Outlet name.")] = None,
    cited_at: Annotated[str | None, typer.Option(
        help="When the writer cited it (ISO time): 'monitor diff SOURCE --from cited' compares "
        "with the copy nearest then.")] = None,
) -> None:
    """Watch a URL (canonicalised: tracking parameters and fragment dropped)."""
    from monitor.store import session
    from monitor.store.sources import add_source

    try:
        cited = parse_time(cited_at) if cited_at is not None else None
    except ValueError as exc:
        fail(f"--cited-at: {exc}")
    with opened(ctx) as home, session(home.engine) as db:
        source, new = add_source(db, url, SystemClock().now(), title=title, outlet=outlet)
        _unpause(source)
        if cited is not None:
            source.cited_at = cited
        db.commit()
        verb = "added" if new else "already watched"
        cited_note = f" (cited at {iso(cited)})" if cited is not None else ""
        console.print(f"{verb}: #{source.id} {source.url}{cited_note}", highlight=False)


@app.command(name="import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="URL list or citing document (.md, .html, .txt).",
                                         show_default=False)],
    kind: Annotated[str | None, typer.Option(help="html, markdown or text (default: guess).")] = None,
) -> None:
    """Watch every link in a URL list or citing document (canonicalised, deduplicated)."""
    from monitor.store import session
    from monitor.store.sources import add_source
    from monitor.urls import links_in

    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    if kind is None and file.suffix.lower() in (".html", ".htm"):
        kind = "html"
    links = links_in(text, kind=kind)
    if not links:
        fail(f"{file}: no http(s) links found")
    with opened(ctx) as home, session(home.engine) as db:
        added = 0
        for link in links:
            _, new = add_source(db, link.url, SystemClock().now(), title=link.title, origin="import")
            added += new
        db.commit()
    console.print(f"{len(links)} links in {file}: {added} added, {len(links) - added} already "
                  "watched", highlight=False)


@app.command()
def pause(ctx: typer.Context, source: SourceArg) -> None:
    """Stop checking a source (its history stays)."""
    _set_paused(ctx, source, True, "user")


@app.command()
def resume(ctx: typer.Context, source: SourceArg) -> None:
    """Check a paused source again."""
    _set_paused(ctx, source, False, None)


@app.command()
def remove(
    ctx: typer.Context,
    source: SourceArg,
    purge: Annotated[bool, typer.Option(
        help="Also delete its captures, versions and events from the database "
        "(WARC files are never deleted).")] = False,
) -> None:
    """Stop watching a source; its archived history stays restorable unless --purge."""
    from monitor.store import session
    from monitor.store.sources import find_source, purge_source, set_paused

    with opened(ctx) as home, session(home.engine) as db:
        found = find_source(db, source)
        if purge:
            purge_source(db, found)
            console.print(f"removed and purged: #{found.id} {found.url}", highlight=False)
        else:
            set_paused(found, True, SystemClock().now(), "removed")
            console.print(f"removed: #{found.id} {found.url} (history kept; "
                          f"'monitor resume {found.id}' watches it again)", highlight=False)
        db.commit()


def _set_paused(ctx: typer.Context, ref: str, paused: bool, reason: str | None) -> None:
    from monitor.store import session
    from monitor.store.sources import find_source, set_paused

    with opened(ctx) as home, session(home.engine) as db:
        source = find_source(db, ref)
        set_paused(source, paused, SystemClock().now(), reason)
        db.commit()
        console.print(f"{'paused' if paused else 'resumed'}: #{source.id} {source.url}",
                      highlight=False)


def _unpause(source: Source) -> None:
    if source.paused:
        source.paused, source.paused_reason = False, None


@app.command()
def status(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Argument(help="Show one source in detail.",
                                                 show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include removed sources.")] = False,
) -> None:
    """Sources with their health, last check, versions and last change."""
    from monitor.store import session
    from monitor.store.models import Host
    from monitor.store.sources import all_sources, find_source
    from monitor.urls import host_of

    with opened(ctx) as home, session(home.engine) as db:
        if source is not None:
            found = find_source(db, source)
            _show_one(found, db.get(Host, host_of(found.url)), _public_copy(db, found))
            return
        rows = [s for s in all_sources(db) if all_ or s.paused_reason != "removed"]
    if not rows:
        console.print("No sources yet. Add some with 'monitor add URL' or 'monitor import FILE'.")
        return
    console.print(_table(rows))


def _table(rows: list[Source]) -> Table:
    from rich import box
    from rich.table import Table

    wide = console.width >= 120
    stamp = 17 if wide else 12  # "2025-01-14 12:00" or "01-14 12:00" (+1: rich counts padding)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    fixed = (("id", 4), ("health", 10 if not wide else 17), ("last check", stamp), ("result", 11),
             ("vers", 5), ("last change", stamp))
    source_width = max(12, console.width - sum(w for _, w in fixed) - 2 * (len(fixed) + 1))
    for name, width in fixed[:2]:
        table.add_column(name, no_wrap=True, width=width, overflow="ellipsis")
    table.add_column("source", no_wrap=True, width=source_width, overflow="ellipsis")
    for name, width in fixed[2:]:
        table.add_column(name, no_wrap=True, width=width, overflow="ellipsis")
    for src in rows:
        health = "paused" if src.paused and not wide else src.health + (" (paused)" if src.paused else "")
        table.add_row(str(src.id), _colored(health), src.title or src.url,
                      _short(iso(src.last_check_at), wide), src.last_result or "-",
                      str(src.version_count), _short(iso(src.last_change_at), wide))
    return table


def _colored(health: str) -> str:
    color = {"paused": "dim", "alive": "green", "recovered": "green", "failing": "yellow", "dead": "red",
             "blocked": "magenta", "moved": "cyan"}.get(health.split()[0], "white")
    return f"[{color}]{health}[/]"


def _short(value: str | None, wide: bool = True) -> str:
    """``2025-01-14 12:00`` (minutes are enough in a table; ``status SOURCE`` has seconds)."""
    text = (value or "-").replace("T", " ")[:16]
    return text if wide or text == "-" else text[5:]


def _public_copy(db: Session, source: Source) -> str | None:
    """The public copy of the newest version submitted to a public archive, or how it fared."""
    from sqlmodel import col, select

    from monitor.store.models import PublicCopy

    row = db.exec(select(PublicCopy).where(col(PublicCopy.source_id) == source.id)
                  .order_by(col(PublicCopy.version_id).desc()).limit(1)).first()
    if row is None:
        return None
    if row.status == "saved":
        return f"{row.uri_m} (captured {iso(row.memento_at)})"
    if row.status == "pending":
        return f"pending at {row.archive} since {iso(row.requested_at)}"
    retry = f"; next try {iso(row.next_attempt_at)}" if row.next_attempt_at else ""
    return f"failed after {row.attempts} attempt(s): {row.last_error}{retry}"


def _show_one(source: Source, host: Host | None, public_copy: str | None = None) -> None:
    fields = {
        "id": source.id, "url": source.url, "title": source.title, "outlet": source.outlet,
        "cited at": iso(source.cited_at),
        "health": source.health, "health since": iso(source.health_since),
        "paused": f"{source.paused} ({source.paused_reason})" if source.paused else False,
        "versions": source.version_count, "last check": iso(source.last_check_at),
        "next check": iso(source.next_check_at), "last change": iso(source.last_change_at),
        "consecutive failures": source.consecutive_failures,
        "first failure": iso(source.first_failure_at), "previous urls": source.previous_urls,
        "public copy": public_copy,
    }
    if host is not None and host.backoff_until is not None:
        fields["host backing off"] = f"until {iso(host.backoff_until)} ({host.backoff_reason})"
    if host is not None and host.probe:
        fields["host probe"] = (f"{host.probe.get('verdict')}: {host.probe.get('reason')} "
                                f"({host.probe.get('at')})")
    for key, value in fields.items():
        if value not in (None, [], ""):
            console.print(f"[bold]{key:>21}[/]  {value}", highlight=False)
    if source.evidence:
        console.print(f"[bold]{'evidence':>21}[/]  "
                      f"{json.dumps(source.evidence, indent=2, ensure_ascii=False)}",
                      highlight=False)
