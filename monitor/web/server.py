"""Running the app: ``monitor serve`` alone, or beside the daemon in ``monitor run --web``.

The socket is bound here, before anything starts, so a taken port or a refused address is
one clear error rather than uvicorn exiting the process from inside a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator

import uvicorn

from monitor.check import CheckContext
from monitor.daemon import Daemon
from monitor.home import Home
from monitor.web.actions import CheckRunner
from monitor.web.app import create_app
from monitor.web.auth import check_bind, is_loopback, resolve_token

log = logging.getLogger("monitor.web")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (OSError says why not)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def sign_in_line(home: Home, sock: socket.socket) -> str:
    base = address(sock)
    token = resolve_token(home.settings.web.token, home.settings.archive_dir)
    if home.settings.web.token:
        return f"dashboard: {base}/ (sign in with the configured web.token)"
    return f"dashboard: {base}/  sign in to make changes: {base}/login?token={token}"


class _EmbeddedServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to us: uvicorn's own handling re-raises the signal at exit
    (exit 130 on Ctrl-C), and beside the daemon it would take the daemon's handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _server(home: Home, sock: socket.socket, runner: CheckRunner | None) -> uvicorn.Server:
    host = sock.getsockname()[0]
    app = create_app(home, runner=runner, loopback_only=is_loopback(host))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                            proxy_headers=False, server_header=False)
    return _EmbeddedServer(config)


def prepare(home: Home, host: str, port: int) -> socket.socket:
    """Check the bind is allowed (BindRefused), then bind (OSError)."""
    check_bind(host, home.settings.web.token)
    return bind(host, port)


async def serve(home: Home, sock: socket.socket) -> None:
    """``monitor serve``: the web app alone (check-now runs in this process) until
    SIGINT/SIGTERM, then a clean stop (exit 0)."""
    server = _server(home, sock, None)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    try:
        await server.serve(sockets=[sock])
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def run_with_web(ctx: CheckContext, home: Home, sock: socket.socket) -> None:
    """``monitor run --web``: the daemon and the web app in one event loop, one check context."""
    server = _server(home, sock, CheckRunner(home, ctx))
    web = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await Daemon(ctx).run()
    finally:
        server.should_exit = True
        await web
