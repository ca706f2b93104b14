"""The ``monitor`` command: a thin layer over the library.

Commands live by theme: ``checks`` (run, check, health), ``sources`` (add, remove,
pause, resume, import, status), ``history`` (events, diff, report, restore),
``archive`` (export, verify, gc), ``links`` (timemap, annotate), ``web`` (serve),
``notify`` (notify), ``db`` (db upgrade, db status), ``worker`` (worker).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from monitor.clock import parse_time, parse_until
from monitor.log import setup_logging

# Each command imports what it needs when it runs, so that ``monitor --help`` and a command
# that opens only the database do not pay for the rest (settings, SQLAlchemy, trafilatura, …).
if TYPE_CHECKING:
    from monitor.home import Home

app = typer.Typer(
    name="monitor",
    help="Watch the articles a piece cites: archive every capture as WARC, flag edits and "
    "dead links, restore any archived copy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@dataclass
class Options:
    home: Path | None
    verbose: bool


@app.callback()
def _global(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        "--home", help="Where config/ and archive/ live (default: $MONITOR_HOME or .).",
        show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="One log line per check.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    setup_logging(verbose=verbose, quiet=quiet)
    ctx.obj = Options(home=home, verbose=verbose)


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr, then exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def opened(ctx: typer.Context, **flags: Any) -> Iterator[Home]:
    """Open the home for a command, turning configuration and lookup errors into one line."""
    from monitor.config import ConfigError
    from monitor.home import open_home
    from monitor.store.migrations import SchemaError
    from monitor.store.sources import UnknownSource
    from monitor.urls import BadURL

    options: Options = ctx.obj
    try:
        home = open_home(options.home, {k: v for k, v in flags.items() if v is not None})
    except (ConfigError, SchemaError) as exc:
        fail(str(exc))
    try:
        yield home
    except (UnknownSource, BadURL, ValueError) as exc:
        fail(str(exc))
    finally:
        home.engine.dispose()


def time_option(value: str | None, name: str, *, until: bool = False) -> datetime | None:
    """Parse an ISO time option; ``until`` reads it as the end of the precision given."""
    if value is None:
        return None
    try:
        return parse_until(value) if until else parse_time(value)
    except ValueError as exc:
        fail(f"{name}: {exc}")


def is_terminal() -> bool:
    return sys.stdout.isatty()


def main() -> None:
    # the command modules register themselves on import
    from monitor.cli import archive, checks, db, history, links, notify, sources, web, worker  # noqa: F401

    app()
