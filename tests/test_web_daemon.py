"""`monitor run --web` and `monitor serve` as a user starts them: real processes, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import publish, run_cli
from tests.site import NewsSite
from tests.test_daemon import DAEMON_ENV, wait_for

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MONITOR_HOME": str(home), **DAEMON_ENV,
           "MONITOR_SCHEDULE__INTERVAL": "1h"}
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], env=env, cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_run_web_serves_the_dashboard_beside_the_daemon_and_stops_with_it(
        site: NewsSite, home_dir: Path) -> None:
    url = publish(site, "apnews", "run-web")
    run_cli(home_dir, "add", url)
    port = free_port()
    proc = start(home_dir, "run", "--web", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(base + "/"), "the dashboard to answer")
    wait_for(lambda: site.hits(url) >= 1, "the daemon's first check")
    token = (home_dir / "archive" / "web-token").read_text().strip()
    assert (home_dir / "archive" / "web-token").stat().st_mode & 0o077 == 0  # only the owner reads it
    wait_for(lambda: httpx.get(base + "/api/sources/1").json()["version_count"] == 1, "version 1")

    site.edit(url, headline="A new headline for the run --web test")
    checked = httpx.post(f"{base}/api/sources/1/check?wait=true", timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
    assert checked.status_code == 200, checked.text
    assert [e["kind"] for e in checked.json()["events"]] == ["changed"]
    page = httpx.get(f"{base}/sources/1").text
    assert "A new headline for the run --web test" in page and "version 2" in page

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "daemon started" in err and "daemon stopped" in err
    assert f"dashboard: {base}/" in out and "login?token=" in out
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/", timeout=1)


def test_serve_stops_on_ctrl_c_and_a_taken_port_is_one_line(home_dir: Path) -> None:
    port = free_port()
    proc = start(home_dir, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(base + "/openapi.json"), "monitor serve to answer")
    second = run_cli(home_dir, "serve", "--port", str(port))
    assert second.code == 2
    assert second.err.strip().splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: "
                                               "Address already in use"]
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 0
