"""The web app served to real clients (a browser, a schema fuzzer) the way ``monitor serve``
runs it: uvicorn on 127.0.0.1, on a free port, here in a background thread of the test.

:func:`serving` yields the base URL and stops the server cleanly on exit (lifespan
shutdown included, so a check-now still running is cancelled, not leaked).
:class:`RequestLog` wraps the app and records every HTTP request that reached it, so a
test can prove that something did *not* happen on the server, not just in the browser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.web.server import address, bind

STARTUP_TIMEOUT = 15.0  # seconds for uvicorn to start answering
SHUTDOWN_TIMEOUT = 15.0  # seconds for it to finish open requests and the lifespan shutdown


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port> while the block runs; yields ``http://127.0.0.1:PORT``.

    The socket is bound before the thread starts, so the URL is valid the moment it is
    yielded and no two tests race for a port."""
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                            server_header=False)
    server = uvicorn.Server(config)  # off the main thread it installs no signal handlers
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="uvicorn-test", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield address(sock)
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"uvicorn on {address(sock)} did not stop within {SHUTDOWN_TIMEOUT:.0f} s")


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    # uvicorn offers a flag, not an event, for "startup complete": poll it, bounded.
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped during startup (see the captured log)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start within {STARTUP_TIMEOUT:.0f} s")
        time.sleep(0.01)


@dataclass(frozen=True)
class Seen:
    """One HTTP request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


class RequestLog:
    """ASGI middleware that records every HTTP request reaching the wrapped app, in order.

    Thread-safe: the server thread appends while the test thread reads. Use :meth:`mark`
    before an action and :meth:`since` after it to see what that action caused."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._seen: list[Seen] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            seen = Seen(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers)
            with self._lock:
                self._seen.append(seen)
        await self.app(scope, receive, send)

    def mark(self) -> int:
        with self._lock:
            return len(self._seen)

    def since(self, mark: int = 0) -> list[Seen]:
        with self._lock:
            return self._seen[mark:]
