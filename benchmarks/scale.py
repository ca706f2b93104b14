"""100,000 sources in one SQLite database: start-up, a full pass of unchanged pages, daemon RSS.

    python benchmarks/scale.py [--sources N] [--templates K] [--outlets O]
        [--unchanged mixed|304|identical] [--timeout S] [--setting SECTION.KEY=VALUE]

Targets (issue 7): a full pass of 100,000 unchanged pages in under 3 minutes, daemon RSS
under 500 MB, start-up under 5 s.

1. benchmarks/pageserver.py serves N URLs from its own process over O outlets (ports):
   they cycle over K distinct ~100 KB imitation article pages, so URL i serves the very
   bytes of page i mod K. ``etag`` outlets answer 304 to the monitor's validators,
   ``static`` ones the identical bytes without validators (``--unchanged mixed``: half each).
2. ``monitor import`` + ``monitor check`` archive the K template URLs for real (WARC
   records, captures, versions, validators).
3. The other N − K sources are inserted with SQL through monitor.store's tables (bulk
   INSERTs in one transaction): each a copy of its template's source row with its own
   URL, and its own copies of the template's capture and version rows, so every source
   looks as if it had been checked once. Then every source is made due now.
4. ``monitor run`` starts as a subprocess. Start-up is the time from spawn to its
   "daemon started" log line (and to its first heartbeat file); the pass is the time
   from that line until every source has a ``last_check_at`` after the start (polled in
   the database); then SIGTERM. Peak RSS is the daemon's ``ru_maxrss`` (from wait4), and
   apart from it the largest of any helper it started.

Exits 1 when the daemon fails, the pass does not finish within ``--timeout``, a source
ends up failing, or any check of the pass changed anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, insert, select, update  # noqa: E402
from sqlmodel import col  # noqa: E402

from benchmarks.common import machine_lines  # noqa: E402
from benchmarks.measure import (  # noqa: E402
    KB,
    code_version,
    enable_subreaper,
    load_line,
    monitor_env,
    parse_settings,
    reap,
    store_bytes,
)
from benchmarks.pageserver import PageServer, Spec  # noqa: E402
from monitor.home import open_home  # noqa: E402
from monitor.store.models import Capture, Source, Version  # noqa: E402

TARGET_PASS_S, TARGET_RSS_MB, TARGET_START_S = 180.0, 500.0, 5.0
CHUNK = 5000  # rows per INSERT batch


@dataclass(frozen=True)
class Options:
    sources: int
    templates: int
    outlets: int
    unchanged: str
    timeout: float
    keep: bool
    settings: dict[str, str]


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=100_000, help="sources (100000)")
    parser.add_argument("--templates", type=int, default=200,
                        help="distinct pages, archived for real first (200)")
    parser.add_argument("--outlets", type=int, default=50, help="outlets = hosts (50)")
    parser.add_argument("--unchanged", choices=("mixed", "304", "identical"), default="mixed",
                        help="how pages come back unchanged (mixed: half the outlets each)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="give up on the pass after this many seconds (900)")
    parser.add_argument("--keep", action="store_true", help="keep the MONITOR_HOME directory")
    parser.add_argument("--setting", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a monitor setting, e.g. schedule.batch=2000")
    args = parser.parse_args(argv)
    if args.templates < 1 or args.outlets < 1 or args.sources < args.templates:
        parser.error("need --templates >= 1, --outlets >= 1 and --sources >= --templates")
    return Options(args.sources, args.templates, min(args.outlets, args.templates), args.unchanged,
                   args.timeout, args.keep, parse_settings(args.setting))


def outlet_modes(opts: Options) -> tuple[str, ...]:
    if opts.unchanged == "mixed":
        return tuple("etag" if o % 2 == 0 else "static" for o in range(opts.outlets))
    return ("etag" if opts.unchanged == "304" else "static",) * opts.outlets


# ------------------------------------------------------------------ priming the database


def run_cli(args: list[str], env: dict[str, str], keep: Sequence[int]) -> str:
    done = subprocess.run(["monitor", *args], env=env, capture_output=True, text=True, check=False)
    reap(keep)
    if done.returncode != 0:
        sys.exit(f"monitor {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def clone_sources(home: Path, env: dict[str, str], urls: Sequence[str], templates: int) -> float:
    """Insert sources ``templates``…: copies of the template sources' rows with their own URLs,
    captures and versions; every source due now. Returns the seconds it took."""
    started = time.monotonic()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        opened = open_home(home)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    tables = Source.__table__, Capture.__table__, Version.__table__  # type: ignore[attr-defined]
    with opened.engine.begin() as db:
        by_url = {row["url"]: dict(row) for row in db.execute(select(tables[0])).mappings()}
        models = [by_url[url] for url in urls[:templates]]
        captures = {row["id"]: dict(row) for row in db.execute(select(tables[1])).mappings()}
        versions = {row["id"]: dict(row) for row in db.execute(select(tables[2])).mappings()}
        next_ids = [int(db.execute(select(func.max(t.c.id))).scalar() or 0) + 1 for t in tables]
        rows: tuple[list[dict[str, Any]], ...] = ([], [], [])
        for i, url in enumerate(urls[templates:]):
            _clone(models[i % templates], url, captures, versions, next_ids, rows)
            if len(rows[0]) >= CHUNK:
                _flush(db, tables, rows)
        _flush(db, tables, rows)
        db.execute(update(tables[0]).values(next_check_at=datetime.now(UTC)))
    opened.engine.dispose()
    return time.monotonic() - started


def _clone(model: dict[str, Any], url: str, captures: dict[int, dict[str, Any]],
           versions: dict[int, dict[str, Any]], next_ids: list[int],
           rows: tuple[list[dict[str, Any]], ...]) -> None:
    source_id = next_ids[0]
    next_ids[0] += 1
    capture_ids: dict[int, int] = {}
    for key in ("last_response_capture_id", "validators_capture_id"):
        old = model[key]
        if old is not None and old not in capture_ids:
            capture_ids[old] = next_ids[1]
            next_ids[1] += 1
    version_ids: dict[int, int] = {}
    if model["current_version_id"] is not None:
        version_ids[model["current_version_id"]] = next_ids[2]
        next_ids[2] += 1
    rows[0].append({**model, "id": source_id, "url": url, "given_url": url,
                    "current_version_id": version_ids.get(model["current_version_id"]),
                    **{k: capture_ids.get(model[k]) for k in
                       ("last_response_capture_id", "validators_capture_id")}})
    for old, new in capture_ids.items():
        capture = captures[old]
        rows[1].append({**capture, "id": new, "source_id": source_id, "url": url,
                        "final_url": url, "version_id": version_ids.get(capture["version_id"])})
    for old, new in version_ids.items():
        version = versions[old]
        rows[2].append({**version, "id": new, "source_id": source_id,
                        "capture_id": capture_ids.get(version["capture_id"])})


def _flush(db: Any, tables: Sequence[Any], rows: tuple[list[dict[str, Any]], ...]) -> None:
    for table, batch in zip(tables, rows, strict=True):
        if batch:
            db.execute(insert(table), batch)
            batch.clear()


# ------------------------------------------------------------------ the daemon


@dataclass
class DaemonRun:
    started: float  # monotonic time of the spawn
    ready: float | None = None  # "daemon started" logged
    heartbeat: float | None = None  # the heartbeat file appeared
    done: float | None = None  # every source checked
    checked: int = 0
    returncode: int | None = None
    maxrss_kb: int = 0
    helpers_rss_kb: int = 0
    rss_samples: list[int] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)


def _watch_log(proc: subprocess.Popen[str], run: DaemonRun, log: Path) -> None:
    assert proc.stderr is not None
    with log.open("w") as out:
        for line in proc.stderr:
            out.write(line)
            if run.ready is None and "daemon started" in line:
                run.ready = time.monotonic()
            run.log_tail = [*run.log_tail[-40:], line.rstrip()]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_daemon(opts: Options, home: Path, env: dict[str, str], keep: Sequence[int]) -> DaemonRun:
    since = datetime.now(UTC)
    heartbeat = home / "archive" / "daemon.json"
    run = DaemonRun(time.monotonic())
    proc = subprocess.Popen(["monitor", "run"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    reader = threading.Thread(target=_watch_log, args=(proc, run, home / "daemon.log"), daemon=True)
    reader.start()
    engine = create_engine(f"sqlite:///{home / 'archive' / 'monitor.db'}")
    query = select(func.count()).select_from(Source).where(col(Source.last_check_at) > since)
    try:
        while proc.poll() is None and time.monotonic() - run.started < opts.timeout:
            if run.heartbeat is None and heartbeat.exists():
                run.heartbeat = time.monotonic()
            run.rss_samples.append(_rss_kb(proc.pid))
            with engine.connect() as db:
                run.checked = int(db.execute(query).scalar() or 0)
            if run.checked >= opts.sources:
                run.done = time.monotonic()
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
        run.returncode = os.waitstatus_to_exitcode(status)
        run.maxrss_kb = usage.ru_maxrss
        run.helpers_rss_kb = reap(keep)
        reader.join(timeout=10)
    return run


# ------------------------------------------------------------------ report


def report(opts: Options, run: DaemonRun, prime_s: float, clone_s: float, home: Path) -> list[str]:
    start = (run.ready - run.started) if run.ready else None
    beat = (run.heartbeat - run.started) if run.heartbeat else None
    full = (run.done - run.ready) if run.done and run.ready else None
    rss = run.maxrss_kb / KB
    print(f"\nprimed: {opts.templates} templates checked for real in {prime_s:.1f} s; "
          f"{opts.sources - opts.templates} sources cloned with SQL in {clone_s:.1f} s")
    print(f"daemon exit {run.returncode}; {run.checked} of {opts.sources} sources checked")
    rows = [("start-up (spawn to 'daemon started')", start, TARGET_START_S, "s"),
            ("full pass of all sources", full, TARGET_PASS_S, "s"),
            ("daemon peak RSS", rss, TARGET_RSS_MB, "MB")]
    print(f"{'':38} {'measured':>10} {'target':>9} {'ratio':>6}")
    for label, value, target, unit in rows:
        shown = f"{value:.1f} {unit}" if value is not None else "n/a"
        ratio = f"{value / target:.2f}" if value is not None else "-"
        print(f"{label:38} {shown:>10} {'< ' + format(target, 'g') + ' ' + unit:>9} {ratio:>6}")
    if beat is not None:
        print(f"first heartbeat file after {beat:.1f} s")
    if full:
        print(f"rate: {opts.sources / full:.0f} checks/s; largest helper process RSS "
              f"{run.helpers_rss_kb / KB:.0f} MB; RSS samples (MB, every ~0.5 s, last 5): "
              f"{[round(s / KB) for s in run.rss_samples[-5:]]}")
    warc, db = store_bytes(home)
    print(f"home: WARC {warc / 2**20:.0f} MB, database {db / 2**20:.0f} MB")
    found = []
    if run.done is None:
        found.append(f"the pass did not finish in {opts.timeout:.0f} s ({run.checked} checked)")
    if run.returncode not in (0, -signal.SIGTERM):
        found.append(f"monitor run exited {run.returncode}")
    return found


def verify(home: Path, env: dict[str, str], keep: Sequence[int]) -> list[str]:
    """Nothing changed and nothing failed in the pass (events since the clone)."""
    out = run_cli(["events", "--json", "--limit", "100000000"], env, keep)
    kinds = [json.loads(line)["kind"] for line in out.splitlines() if line.strip()]
    unexpected = {k: kinds.count(k) for k in set(kinds) if k not in ("archived",)}
    return [f"events other than the templates' first archiving: {unexpected}"] if unexpected else []


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    reaping = enable_subreaper()
    for line in machine_lines():
        print(line)
    print(f"code: {REPO} at {code_version()}; {load_line()}")
    settings = " ".join(f"{k}={v}" for k, v in opts.settings.items()) or "every setting default"
    print(f"run: {opts.sources} sources over {opts.templates} distinct pages on {opts.outlets} "
          f"outlets, unchanged as {opts.unchanged}; monitor: {settings}")
    if not reaping:
        print("warning: cannot become a child subreaper: helper RSS is not seen")
    home = Path(tempfile.mkdtemp(prefix="monitor-scale-"))
    server = PageServer(Spec(outlet_modes(opts), opts.sources, opts.templates, seed=1))
    keep = (server.pid,)
    try:
        env = monitor_env(home, opts.settings)
        started = time.monotonic()
        (home / "urls.txt").write_text("".join(u + "\n" for u in server.urls[:opts.templates]))
        run_cli(["import", str(home / "urls.txt")], env, keep)
        run_cli(["check"], env, keep)
        prime_s = time.monotonic() - started
        clone_s = clone_sources(home, env, server.urls, opts.templates)
        print(f"database ready: {opts.sources} sources, {load_line()}", flush=True)
        run = run_daemon(opts, home, env, keep)
        cpu, statuses = server.stats()
        print(f"server: {dict(sorted(statuses.items()))} answers, {cpu:.1f} s CPU in all")
        found = report(opts, run, prime_s, clone_s, home) + verify(home, env, keep)
        if found:
            print("daemon log tail:\n  " + "\n  ".join(run.log_tail[-15:]))
    finally:
        server.close()
        if opts.keep:
            print(f"home kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    for line in found:
        print("FAIL:", line)
    print("FAIL" if found else "OK: the daemon checked every source once, nothing changed or failed")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
