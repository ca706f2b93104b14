"""What the process benchmarks measure a command with: wall time, CPU of it and every
descendant, peak RSS, the bytes its home grew by, and the monitor's own pass line.

Not a benchmark itself. CPU comes from ``RUSAGE_CHILDREN``: this process makes itself a
child subreaper (Linux prctl), so helpers a command leaves behind (the extraction
forkserver and its workers) are reparented here, reaped, and counted. Long-lived children
of the benchmark itself (the page server) are left alone by passing their pid in ``keep``.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
REAP_TIMEOUT = 30.0  # seconds to wait for a command's orphaned helpers to exit
KB, MB = 1024, 1024 * 1024
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Usage:
    """What one measured subprocess (and its descendants) cost."""

    returncode: int
    wall: float
    cpu: float  # the process and every descendant, user + sys
    main_cpu: float  # the process alone, with the children it waited for itself
    maxrss_kb: int  # the largest peak RSS of any one process of the tree


def enable_subreaper() -> bool:
    """Adopt orphaned descendants, so their rusage reaches RUSAGE_CHILDREN (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def child_pids() -> set[int]:
    """Pids whose parent is this process (from /proc; empty where there is none)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if len(fields) > 1 and int(fields[1]) == me:
            found.add(int(entry.name))
    return found


def reap(keep: Collection[int] = ()) -> int:
    """Wait for every child but ``keep`` (adopted helpers of a finished command); their peak RSS."""
    peak, deadline = 0, time.monotonic() + REAP_TIMEOUT
    while time.monotonic() < deadline:
        pending = child_pids() - set(keep)
        if not pending:
            return peak
        for pid in pending:
            try:
                done, _, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done:
                peak = max(peak, usage.ru_maxrss)
        time.sleep(0.005)
    print(f"warning: descendants still running after {REAP_TIMEOUT:.0f}s; CPU may be short")
    return peak


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_measured(cmd: Sequence[str], env: Mapping[str, str], log: Path,
                 keep: Collection[int] = ()) -> Usage:
    """Run ``cmd`` to completion (output to ``log``.out/.err); what it and its descendants cost."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with log.with_suffix(".out").open("wb") as out, log.with_suffix(".err").open("wb") as err:
        proc = subprocess.Popen(list(cmd), env=dict(env), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        _, status, own = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max(own.ru_maxrss, reap(keep))
    cpu = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(before)
    return Usage(proc.returncode, wall, cpu, _cpu(own), peak)


def startup_line(settings: Mapping[str, str], keep: Collection[int] = ()) -> str:
    """What starting ``monitor check`` costs (in an empty home): part of every pass measured."""
    with tempfile.TemporaryDirectory(prefix="monitor-startup-") as tmp:
        usage = run_measured(["monitor", "check"], monitor_env(Path(tmp), settings),
                             Path(tmp) / "startup", keep)
    return (f"monitor start-up ('monitor check' in an empty home): wall {usage.wall:.2f} s, "
            f"CPU {usage.cpu:.2f} s, RSS {usage.maxrss_kb / KB:.0f} MB; included in each pass")


def monitor_env(home: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without MONITOR_* variables, plus the home and ``section.key`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["MONITOR_HOME"] = str(home)
    for key, value in settings.items():
        env["MONITOR_" + key.upper().replace(".", "__")] = value
    return env


def parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    """``["archive.fsync=false", …]`` → ``{"archive.fsync": "false"}``; SystemExit when malformed."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"--setting takes SECTION.KEY=VALUE, e.g. archive.fsync=false: {pair!r}")
        out[key.strip()] = value
    return out


@dataclass(frozen=True)
class PassLine:
    """The monitor's own summary of a pass: ``pass: N checked, … in 12.3s``."""

    seconds: float | None
    checked: int | None
    extracted: int | None  # full extractions; None: the monitor does not say
    fingerprint: int | None  # checks the fast path answered without extraction


def pass_line(stdout: str) -> PassLine:
    """The last pass line of ``monitor check``'s output (rich wraps it at the console width)."""
    lines = re.findall(r"^pass: (?:.|\n)*? in\s+[\d.]+s$", stdout, re.M)
    if not lines:
        return PassLine(None, None, None, None)
    line = " ".join(lines[-1].split())

    def number(pattern: str) -> int | None:
        found = re.search(pattern, line)
        return int(found.group(1)) if found else None

    seconds = re.search(r" in ([\d.]+)s$", line)
    return PassLine(float(seconds.group(1)) if seconds else None, number(r"(\d+) checked"),
                    number(r"(\d+) extracted"), number(r"(\d+) by fingerprint"))


def store_bytes(home: Path) -> tuple[int, int]:
    """Bytes on disk: (WARC files, the SQLite database with its WAL and shared memory)."""
    archive = home / "archive"
    warc = sum(p.stat().st_size for p in (archive / "warc").rglob("*") if p.is_file())
    db = sum(p.stat().st_size for p in archive.glob("monitor.db*") if p.is_file())
    return warc, db


def tree_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (or of the file itself)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def code_version() -> str:
    """The repository's commit, and whether the working tree differs from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    return commit + (" + uncommitted changes" if git("status", "--porcelain") else "")


def load_line() -> str:
    """The load average: other work on the machine moves every figure."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average: unknown"
    return f"load average: {one:.2f} (1 min), {five:.2f} (5 min)"


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows of cells, the first one the header; columns right-aligned (the first left)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
