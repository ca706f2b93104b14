"""pywb, the web archive replay server, run from its own virtualenv for the replay tests.

``running_pywb`` makes a collection (``wb-manager init``), adds WARC files or a WACZ
(``wb-manager add``, which builds or merges the CDXJ index), starts ``wayback`` on a
free 127.0.0.1 port, waits until it answers and always stops it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from monitor.store.models import Capture
from tests.archive_story import target_uri, timestamp14
from tests.conftest import archive_tool

COLLECTION = "monitor"
READY_WITHIN = 60.0  # seconds pywb may take to start answering


@dataclass(frozen=True)
class Replay:
    """A running pywb over one collection."""

    base: str
    root: Path  # pywb's working directory (collections/monitor/…)

    @property
    def index(self) -> Path:
        return self.root / "collections" / COLLECTION / "indexes" / "index.cdxj"

    def get(self, when: str, url: str) -> httpx.Response:
        """The capture closest to ``when`` exactly as archived (pywb's ``id_`` mode)."""
        return httpx.get(f"{self.base}/{COLLECTION}/{when}id_/{url}", timeout=30)


def memento_datetime(answer: httpx.Response) -> datetime | None:
    """When the capture pywb served was made (its ``Memento-Datetime`` header)."""
    stated = answer.headers.get("Memento-Datetime")
    return parsedate_to_datetime(stated) if stated else None


@contextmanager
def running_pywb(root: Path, files: list[Path]) -> Iterator[Replay]:
    """pywb serving ``files`` (WARCs, or one WACZ) from a collection under ``root``."""
    manager, wayback = archive_tool("wb-manager"), archive_tool("wayback")
    root.mkdir(parents=True, exist_ok=True)
    _run(root, manager, "init", COLLECTION)
    unpack = ["--unpack-wacz"] if any(f.suffix == ".wacz" for f in files) else []
    _run(root, manager, "add", *unpack, COLLECTION, *files)
    port, log_path = _free_port(), root / "wayback.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(wayback), "-b", "127.0.0.1", "-p", str(port)], cwd=root,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(proc, base, log_path)
            yield Replay(base, root)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _run(cwd: Path, *args: str | Path) -> None:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    """Poll pywb's home page until it answers (bounded; fails with pywb's log)."""
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"wayback exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"wayback did not answer within {READY_WITHIN:.0f}s:\n{log.read_text()[-2000:]}")


def replay_mismatches(pywb: Replay, captures: list[Capture], payloads: dict[int, bytes]) -> list[str]:
    """One line per capture pywb does not serve at its time with the payload we stored."""
    wrong = []
    for capture in captures:
        answer = pywb.get(timestamp14(capture.at), target_uri(capture))
        served_at = memento_datetime(answer)
        what = f"#{capture.id} {capture.record_type} {capture.status} {target_uri(capture)} @{capture.at}"
        if served_at != capture.at.replace(microsecond=0):
            wrong.append(f"{what}: served the capture of {served_at}")
        elif answer.content != payloads[capture.id or 0]:
            wrong.append(f"{what}: served {answer.status_code} with {len(answer.content)} bytes, "
                         f"not the {len(payloads[capture.id or 0])} stored")
    return wrong
