"""The Dockerfile's contract, run outside Docker (this machine has no Docker engine):
its entrypoint starts the daemon with MONITOR_HOME on the volume, and its health check
command reports healthy while the daemon runs and unhealthy once it stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, publish
from tests.site import NewsSite
from tests.test_daemon import wait_for

pytestmark = pytest.mark.slow


def _instruction(name: str) -> tuple[str, ...]:
    text = (REPO / "Dockerfile").read_text()
    match = re.search(rf"^{name}\s+.*?(\[.*\])\s*$", text, re.MULTILINE)
    assert match, f"Dockerfile has no exec-form {name}"
    return tuple(json.loads(match.group(1)))


def _env() -> dict[str, str]:
    text = (REPO / "Dockerfile").read_text()
    block = re.search(r"^ENV (.*?)(?=^\S)", text, re.MULTILINE | re.DOTALL)
    assert block
    pairs = re.findall(r"(\w+)=(\S+)", block.group(1))
    return dict(pairs)


def _as_here(command: tuple[str, ...]) -> list[str]:
    """`monitor …` from the image, run with this interpreter."""
    assert command[0] == "monitor"
    return [sys.executable, "-m", "monitor", *command[1:]]


def test_dockerfile_runs_as_non_root_with_home_on_a_volume() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^USER monitor$", text, re.MULTILINE)
    assert '"/data"' in text and _env()["MONITOR_HOME"] == "/data"
    assert "HEALTHCHECK" in text


def test_entrypoint_and_healthcheck_work_outside_docker(
    site: NewsSite, tmp_path: Path
) -> None:
    volume = tmp_path / "data"
    volume.mkdir()
    url = publish(site, "apnews", "in-container")
    config = tmp_path / "sources.toml"
    config.write_text(f'[[sources]]\nurl = "{url}"\n')
    env = {**os.environ, **_env(), "MONITOR_HOME": str(volume), "MONITOR_CONFIG": str(config),
           "MONITOR_SCHEDULE__TICK": "0.2s"}
    health = _as_here(_instruction("HEALTHCHECK.*CMD"))
    assert subprocess.run(health, env=env, capture_output=True).returncode == 1
    daemon = subprocess.Popen(_as_here(_instruction("ENTRYPOINT") + _instruction("CMD")), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: site.hits(url) >= 1, "the containerised daemon to check its source")
        wait_for(lambda: subprocess.run(health, env=env, capture_output=True).returncode == 0,
                 "the health check to pass")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=20)
    assert daemon.returncode == 0
    assert (volume / "archive" / "monitor.db").exists()
    assert subprocess.run(health, env=env, capture_output=True).returncode == 1
