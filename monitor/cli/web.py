"""``monitor serve``: the dashboard, JSON API and Atom feed (monitor/web)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli import app, console, fail, opened

if TYPE_CHECKING:
    from monitor.home import Home

HostOption = Annotated[str | None, typer.Option(
    help="Address to listen on (default: web.host, 127.0.0.1). Beyond loopback needs web.token.",
    show_default=False)]
PortOption = Annotated[int | None, typer.Option(help="Port (default: web.port, 8765).", show_default=False)]


def listen(home: Home, host: str | None, port: int | None) -> object:
    """Check and bind the web address, or fail with one line; prints where to go."""
    from monitor.web.auth import BindRefused
    from monitor.web.server import prepare, sign_in_line

    host = host or home.settings.web.host
    port = home.settings.web.port if port is None else port
    try:
        sock = prepare(home, host, port)
    except BindRefused as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    console.print(sign_in_line(home, sock), highlight=False, soft_wrap=True)
    return sock


@app.command()
def serve(ctx: typer.Context, host: HostOption = None, port: PortOption = None) -> None:
    """Serve the dashboard, JSON API (/openapi.json) and Atom feed until Ctrl-C."""
    import asyncio

    from monitor.web.server import serve as serve_app

    with opened(ctx) as home:
        sock = listen(home, host, port)
        asyncio.run(serve_app(home, sock))  # type: ignore[arg-type]
