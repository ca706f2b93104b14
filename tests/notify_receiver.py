"""A notifier's endpoint on 127.0.0.1, for Apprise's ``json://`` URLs: it records every
message it is sent and answers 500 when told to, for one path or all of them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Received:
    path: str
    title: str
    message: str
    type: str
    authorization: str | None
    answered: int

    @property
    def lines(self) -> list[str]:
        return self.message.splitlines()


class Receiver:
    """Records what Apprise posts; ``fail()`` makes it answer 500 until ``heal()``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._failing: set[str] = set()  # paths answering 500; "*": all
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "hook", userinfo: str = "") -> str:
        """An Apprise URL that posts JSON here (``userinfo``: ``user:password``)."""
        return f"json://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{path}"

    def fail(self, path: str = "*") -> None:
        with self._lock:
            self._failing.add("/" + path if path != "*" else path)

    def heal(self) -> None:
        with self._lock:
            self._failing.clear()

    @property
    def delivered(self) -> list[Received]:
        """The messages answered with 200."""
        with self._lock:
            return [r for r in self.received if r.answered == 200]

    def _answer(self, path: str, headers: Any, payload: dict[str, Any]) -> int:
        with self._lock:
            status = 500 if {"*", path} & self._failing else 200
            self.received.append(Received(path, payload.get("title", ""), payload.get("message", ""),
                                          payload.get("type", ""), headers.get("Authorization"), status))
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                status = receiver._answer(self.path, self.headers, payload)
                body = b"ok" if status == 200 else b"broken on purpose"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
