"""Imitations of the public web archives, on 127.0.0.1 like the rest of the test site.

:class:`InternetArchive` answers the Save Page Now 2 API (``POST /save`` with
``Authorization: LOW key:secret``, then ``GET /save/status/<job_id>``): on a save it
fetches the URL itself, from the test site, and keeps the bytes; it replays them at
``/web/<timestamp>id_/<url>`` (the raw bytes) and ``/web/<timestamp>/<url>`` (with a
banner, as the Wayback Machine rewrites pages), redirecting to the nearest capture like
the real one. Tests can seed copies from before the monitor started, make it refuse
(401 without keys, 429, 5xx), end jobs in error, and read what it was sent.

:class:`MementoAggregator` answers TimeTravel-style TimeMaps: ``GET /timemap/link/<url>``
lists in ``application/link-format`` the mementos its archives hold (404 when none).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

import httpx

WAYBACK_TIME = "%Y%m%d%H%M%S"
_REPLAY = re.compile(r"^/web/(\d{14})(id_)?/(.+)$")
_BODY_TAG = re.compile(rb"<body[^>]*>", re.IGNORECASE)
BANNER = b'<div id="wm-ipp">Wayback Machine imitation: this page is an archived copy</div>'


@dataclass(frozen=True)
class Snapshot:
    """One copy the archive holds: what a URL answered at a time."""

    url: str
    at: datetime
    body: bytes
    content_type: str = "text/html; charset=utf-8"

    @property
    def timestamp(self) -> str:
        return self.at.strftime(WAYBACK_TIME)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: dict[str, Any], **headers: str) -> Answer:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


class Service:
    """An HTTP service on an ephemeral 127.0.0.1 port; subclasses answer :meth:`answer`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.port = 0  # kept after stop(): a stopped service is an address nobody answers at
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.service = self  # type: ignore[attr-defined]
        self._server, self.port = server, server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("start the service first")
        return f"http://127.0.0.1:{self.port}"

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError


@dataclass
class _Job:
    url: str
    polls_left: int
    snapshot: Snapshot | None = None
    error: str | None = None  # SPN's status_ext


class InternetArchive(Service):
    """Save Page Now and Wayback replay. ``clock`` dates the captures (default: real time);
    ``pending_polls`` is how many status polls a job answers "pending" before it is done."""

    def __init__(self, access_key: str = "test-key", secret: str = "test-secret", *,
                 pending_polls: int = 1, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.access_key, self.secret, self.pending_polls = access_key, secret, pending_polls
        self.clock = clock or (lambda: datetime.now(UTC))
        self.saves: list[dict[str, str]] = []  # every POST /save: url, authorization, user-agent
        self.polls = 0
        self._snapshots: list[Snapshot] = []
        self._jobs: dict[str, _Job] = {}
        self._refusals: deque[tuple[int, int | None]] = deque()
        self._job_errors: deque[str] = deque()

    @property
    def spn_endpoint(self) -> str:
        return self.base_url + "/save"

    def env(self) -> dict[str, str]:
        """The monitor's settings (as environment) to submit to this archive."""
        return {"MONITOR_PUBLIC__SAVE_PAGE_NOW": "true", "MONITOR_PUBLIC__SPN_ENDPOINT": self.spn_endpoint,
                "MONITOR_PUBLIC__SPN_ACCESS_KEY": self.access_key, "MONITOR_PUBLIC__SPN_SECRET": self.secret}

    def seed(self, url: str, at: datetime, body: bytes,
             content_type: str = "text/html; charset=utf-8") -> Snapshot:
        """Hold a copy of ``url`` taken at ``at`` (e.g. before the monitor started)."""
        snapshot = Snapshot(url, at.astimezone(UTC).replace(microsecond=0), body, content_type)
        with self.lock:
            self._snapshots.append(snapshot)
        return snapshot

    def seed_live(self, url: str, at: datetime) -> Snapshot:
        """Fetch ``url`` now and hold the bytes as a copy taken at ``at``."""
        response = httpx.get(url, timeout=5)
        response.raise_for_status()
        return self.seed(url, at, response.content, response.headers.get("content-type", "text/html"))

    def snapshots(self, url: str | None = None) -> list[Snapshot]:
        """The copies held (of ``url``, or all), oldest first."""
        with self.lock:
            found = [s for s in self._snapshots if url is None or s.url == url]
        return sorted(found, key=lambda s: s.at)

    def refuse(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """The next ``count`` saves are answered ``status`` (401, 429, 502 …), nothing captured."""
        with self.lock:
            self._refusals.extend([(status, retry_after)] * count)

    def fail_jobs(self, status_ext: str = "error:not-found", count: int = 1) -> None:
        """The next ``count`` jobs end in error with this ``status_ext``."""
        with self.lock:
            self._job_errors.extend([status_ext] * count)

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method == "POST" and path == "/save":
            return self._save(headers, body)
        if method == "GET" and path.startswith("/save/status/"):
            return self._status(headers, path.removeprefix("/save/status/"))
        replay = _REPLAY.match(path)
        if method == "GET" and replay:
            return self._replay(*replay.groups())
        return Answer(404, b"not found")

    def _authorised(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"LOW {self.access_key}:{self.secret}"

    def _save(self, headers: dict[str, str], body: bytes) -> Answer:
        url = (parse_qs(body.decode()).get("url") or [""])[0]
        with self.lock:
            self.saves.append({"url": url, "authorization": headers.get("authorization", ""),
                               "user-agent": headers.get("user-agent", "")})
            refusal = self._refusals.popleft() if self._refusals else None
            error = self._job_errors.popleft() if self._job_errors else None
        if not self._authorised(headers):
            return Answer.json(401, {"status": "error", "message": "You need to be logged in"})
        if refusal is not None:
            status, wait = refusal
            extra = {"Retry-After": str(wait)} if wait is not None else {}
            return Answer.json(status, {"status": "error", "status_ext": f"error:http-{status}"}, **extra)
        if not url.startswith(("http://", "https://")):
            return Answer.json(200, {"status": "error", "status_ext": "error:invalid-url-syntax",
                                     "message": f"Invalid URL {url!r}"})
        job = _Job(url, self.pending_polls, error=error)
        if error is None:
            self._capture(job)
        job_id = "spn2-" + secrets.token_hex(20)
        with self.lock:
            self._jobs[job_id] = job
        return Answer.json(200, {"url": url, "job_id": job_id})

    def _capture(self, job: _Job) -> None:
        """Fetch the page the way SPN does (following redirects) and keep it."""
        try:
            response = httpx.get(job.url, follow_redirects=True, timeout=5)
        except httpx.HTTPError:
            job.error = "error:connection-refused"
            return
        if response.status_code != 200:
            job.error = "error:not-found" if response.status_code == 404 else \
                f"error:http-{response.status_code}"
            return
        job.snapshot = self.seed(job.url, self.clock(), response.content,
                                 response.headers.get("content-type", "text/html"))

    def _status(self, headers: dict[str, str], job_id: str) -> Answer:
        if not self._authorised(headers):
            return Answer.json(401, {"status": "error", "message": "You need to be logged in"})
        with self.lock:
            self.polls += 1
            job = self._jobs.get(job_id)
            if job is not None and job.polls_left > 0:
                job.polls_left -= 1
                return Answer.json(200, {"status": "pending", "job_id": job_id})
        if job is None:
            return Answer.json(200, {"status": "error", "status_ext": "error:job-not-found"})
        if job.snapshot is None:
            return Answer.json(200, {"status": "error", "job_id": job_id, "status_ext": job.error,
                                     "message": f"capture of {job.url} failed"})
        return Answer.json(200, {"status": "success", "job_id": job_id, "original_url": job.url,
                                 "timestamp": job.snapshot.timestamp, "duration_sec": 1.5})

    def _replay(self, timestamp: str, raw: str | None, url: str) -> Answer:
        """The copy nearest ``timestamp``: served when exact, else a redirect to it."""
        copies = self.snapshots(url)
        if not copies:
            return Answer(404, b"Wayback Machine has not archived that URL.")
        wanted = datetime.strptime(timestamp, WAYBACK_TIME).replace(tzinfo=UTC)
        nearest = min(copies, key=lambda s: abs(s.at - wanted))
        if nearest.timestamp != timestamp:
            return Answer(302, b"", {"Location": f"/web/{nearest.timestamp}{raw or ''}/{url}"})
        body = nearest.body if raw else _BODY_TAG.sub(lambda m: m.group(0) + BANNER, nearest.body, 1)
        return Answer(200, body, {"Content-Type": nearest.content_type,
                                  "Memento-Datetime": format_datetime(nearest.at, usegmt=True)})


class MementoAggregator(Service):
    """TimeTravel-style TimeMaps over the given archives; :meth:`garble` breaks its answers."""

    def __init__(self, *archives: InternetArchive) -> None:
        super().__init__()
        self.archives = archives
        self.garbled = False
        self.lookups: list[str] = []

    @property
    def prefix(self) -> str:
        """The TimeMap URL prefix (the monitor's ``public.aggregator`` setting)."""
        return self.base_url + "/timemap/link/"

    def garble(self, on: bool = True) -> None:
        """Answer 200 with an HTML page instead of a TimeMap."""
        self.garbled = on

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "GET" or not path.startswith("/timemap/link/"):
            return Answer(404, b"not found")
        url = path.removeprefix("/timemap/link/")
        with self.lock:
            self.lookups.append(url)
        if self.garbled:
            return Answer(200, b"<html><body>Service temporarily down</body></html>",
                          {"Content-Type": "text/html"})
        copies = sorted(((a, s) for a in self.archives for s in a.snapshots(url)), key=lambda p: p[1].at)
        if not copies:
            return Answer(404, b"No mementos found", {"Content-Type": "text/plain"})
        lines = [f'<{url}>; rel="original"',
                 f'<{self.prefix}{url}>; rel="self"; type="application/link-format"']
        for index, (archive, snap) in enumerate(copies):
            rel = "first memento" if index == 0 else "last memento" if index == len(copies) - 1 \
                else "memento"
            lines.append(f'<{archive.base_url}/web/{snap.timestamp}/{url}>; rel="{rel}"; '
                         f'datetime="{format_datetime(snap.at, usegmt=True)}"')
        return Answer(200, ",\n".join(lines).encode() + b"\n", {"Content-Type": "application/link-format"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """No request logging."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        service: Service = self.server.service  # type: ignore[attr-defined]
        headers = {key.lower(): value for key, value in self.headers.items()}
        body = self.rfile.read(int(headers.get("content-length") or 0))
        answer = service.answer(self.command, self.path, headers, body)
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)
