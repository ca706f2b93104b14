"""The benchmarks still run and still meet their targets (quick sizes, fixed seeds)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_health_benchmark_meets_its_targets() -> None:
    """Recall 1.0 per death kind, no false dead, only `offline` in the outage pass."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "health.py"), "--quick",
                           "--seed", "7"], capture_output=True, text=True, timeout=110, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "seed 7:" in proc.stdout and "TARGET MISSED" not in proc.stdout
    assert "outage pass: Counter({'offline': 1})" in proc.stdout


def test_changes_benchmark_meets_its_targets() -> None:
    """Recall 1.0 on substantive edits and at most 1 false alert per 1,000 checks."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "changes.py"), "--quick",
                           "--seed", "1"], capture_output=True, text=True, timeout=110, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "recall on substantive edits" in proc.stdout


def test_archive_bytes_benchmark_meets_its_target() -> None:
    """An unchanged check's record costs at most 2 KB, churning page or not; keep=every is the peer."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "archive_bytes.py"), "--quick",
                           "--seed", "1"], capture_output=True, text=True, timeout=110, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "metadata" in proc.stdout and "archive.keep = every" in proc.stdout
