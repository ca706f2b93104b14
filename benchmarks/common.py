"""What the benchmarks share: the machine they ran on, and a scratch MONITOR_HOME with sources.

Not a benchmark itself; ``python benchmarks/<name>.py`` imports it.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.sources import add_source


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def machine_lines() -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [f"machine: nproc {usable} (cpu_count {os.cpu_count()}), CPU {_cpu_model()}, "
             f"RAM {_ram_gib():.1f} GiB",
             f"python {platform.python_version()} ({sys.executable}), {platform.platform()}"]
    try:
        quota = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota and quota[0] != "max":
            lines.append(f"cgroup CPU quota: {int(quota[0]) / int(quota[1]):.2f} CPUs")
    except (OSError, ValueError, IndexError):
        pass
    return lines


@contextmanager
def scratch_home(prefix: str, env: dict[str, str]) -> Iterator[Home]:
    """A fresh MONITOR_HOME in a temporary directory, opened with ``env`` set; removed after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.environ.update(env)
        home = open_home(Path(tmp))
        try:
            yield home
        finally:
            home.engine.dispose()


def watch(home: Home, urls: Sequence[str], at: datetime) -> list[int]:
    """Add the URLs as sources; their ids, in the same order."""
    with session(home.engine) as db:
        ids = []
        for url in urls:
            source, _ = add_source(db, url, at)
            db.flush()
            ids.append(source.id or 0)
        db.commit()
    return ids
