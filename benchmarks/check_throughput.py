"""Throughput of ``monitor check`` against the imitation news site (tests/site).

    python benchmarks/check_throughput.py [--quick] [--sources N] [--outlets K]
        [--page-kb KB] [--passes P] [--edit-share S] [--per-host H] [--concurrency C]

Runs the real CLI as a subprocess with ``MONITOR_HOME`` set to a fresh temporary
directory: ``monitor import`` of N article URLs, then P passes of ``monitor check``.
Pass 1 sees every article for the first time (full extraction, WARC response records);
later passes see re-randomised ("churning") pages whose article is unchanged, except
for the share of articles edited through the site's API before each later pass.

The site runs in threads of this process (the edits need its API). Its CPU time is
printed per pass so a reader can see it is not the bottleneck. CPU and peak RSS of the
monitor include its extraction workers: this process makes itself a child subreaper
(Linux prctl), so the forkserver and workers the monitor leaves behind are reaped here
and counted in ``RUSAGE_CHILDREN``; without that their CPU time would be lost.

Exits 1 when ``monitor`` fails, when the changed events differ from the edits made,
or when a pass does not check every source cleanly (archived/failing counts).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import machine_lines  # noqa: E402
from benchmarks.measure import code_version, enable_subreaper  # noqa: E402
from tests.site import NewsSite  # noqa: E402
from tests.site.__main__ import outlet_names, populate  # noqa: E402
from tests.site.pages import fake_paragraph  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
REAP_TIMEOUT = 30.0  # seconds to wait for the monitor's orphaned helpers to exit
KB, MB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Options:
    sources: int
    outlets: int
    page_kb: int
    passes: int
    edit_share: float
    per_host: int
    concurrency: int
    seed: int
    keep: bool
    settings: tuple[str, ...]


@dataclass(frozen=True)
class Usage:
    """What one measured subprocess (and its descendants) cost."""

    returncode: int
    wall: float
    cpu: float  # the process and every descendant
    main_cpu: float  # the process alone (the monitor's event loop, without its workers)
    maxrss_kb: int
    site_cpu: float  # this process meanwhile: the site's threads


@dataclass
class PassResult:
    number: int
    usage: Usage
    in_pass: float | None
    warc_bytes: int
    db_bytes: int
    edited: set[str]
    events: Counter[str] = field(default_factory=Counter)
    changed_urls: set[str] = field(default_factory=set)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=1000, help="articles watched (1000)")
    parser.add_argument("--outlets", type=int, default=10, help="outlets = hosts (10)")
    parser.add_argument("--page-kb", type=int, default=100, help="page size in KB (100)")
    parser.add_argument("--passes", type=int, default=3, help="passes of monitor check (3)")
    parser.add_argument("--edit-share", type=float, default=0.05,
                        help="share of articles edited before each later pass (0.05)")
    parser.add_argument("--per-host", type=int, default=2, help="MONITOR_FETCH__PER_HOST (2)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="MONITOR_FETCH__CONCURRENCY (default: outlets x per-host)")
    parser.add_argument("--seed", type=int, default=1, help="seed for text and edits (1)")
    parser.add_argument("--keep", action="store_true", help="keep the MONITOR_HOME directory")
    parser.add_argument("--quick", action="store_true", help="100 sources, 2 passes")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                        help="extra monitor setting, e.g. archive.fsync=false (repeatable)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sources, args.passes = 100, 2
    if args.sources < 1 or args.outlets < 1 or args.passes < 1:
        parser.error("--sources, --outlets and --passes must be at least 1")
    if not 0 <= args.edit_share <= 1:
        parser.error("--edit-share must be between 0 and 1")
    if any("=" not in s or "." not in s.split("=")[0] for s in args.setting):
        parser.error("--setting takes SECTION.KEY=VALUE, e.g. archive.fsync=false")
    return Options(args.sources, args.outlets, args.page_kb, args.passes, args.edit_share,
                   args.per_host, args.concurrency or args.outlets * args.per_host, args.seed,
                   args.keep, tuple(args.setting))


# --------------------------------------------------------------- processes


def reap_orphans() -> int:
    """Wait for adopted descendants (the monitor's forkserver and workers); their peak RSS."""
    peak, deadline = 0, time.monotonic() + REAP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return peak
        if pid:
            peak = max(peak, usage.ru_maxrss)
        else:
            time.sleep(0.005)
    print(f"warning: descendants still running after {REAP_TIMEOUT:.0f}s; CPU may be short")
    return peak


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> Usage:
    """Run ``cmd`` to completion; wall time, CPU and peak RSS of it and its descendants."""
    children, me = (resource.getrusage(resource.RUSAGE_CHILDREN),
                    resource.getrusage(resource.RUSAGE_SELF))
    started = time.monotonic()
    with log.with_suffix(".out").open("wb") as out, log.with_suffix(".err").open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, own = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max(own.ru_maxrss, reap_orphans())
    cpu = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(children)
    site_cpu = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(me)
    return Usage(proc.returncode, wall, cpu, _cpu(own), peak, site_cpu)


def run_cli(args: list[str], env: dict[str, str]) -> str:
    """Run an unmeasured ``monitor`` command; its stdout (exits on failure)."""
    done = subprocess.run(["monitor", *args], env=env, capture_output=True, text=True,
                          check=False)
    reap_orphans()
    if done.returncode != 0:
        sys.exit(f"monitor {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def monitor_env(home: Path, opts: Options) -> dict[str, str]:
    """This environment without MONITOR_* settings, plus the home and the fetch limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(MONITOR_HOME=str(home), MONITOR_FETCH__CONCURRENCY=str(opts.concurrency),
               MONITOR_FETCH__PER_HOST=str(opts.per_host))
    for setting in opts.settings:
        key, value = setting.split("=", 1)
        env["MONITOR_" + key.upper().replace(".", "__")] = value
    return env


# ------------------------------------------------------------------ the run


def store_bytes(home: Path) -> tuple[int, int]:
    """Bytes on disk: (WARC files, sqlite database with its WAL and shared memory)."""
    archive = home / "archive"
    warc = sum(p.stat().st_size for p in (archive / "warc").rglob("*") if p.is_file())
    db = sum(p.stat().st_size for p in archive.glob("monitor.db*") if p.is_file())
    return warc, db


def new_events(env: dict[str, str], seen: set[str]) -> list[dict[str, object]]:
    """Events recorded since the last call (``seen`` holds the ids already counted)."""
    out = run_cli(["events", "--json", "--limit", "100000000"], env)
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    fresh = [e for e in events if e["id"] not in seen]
    seen.update(str(e["id"]) for e in fresh)
    return fresh


def make_edits(site: NewsSite, urls: list[str], share: float, rng: random.Random) -> set[str]:
    """Append a paragraph to ``share`` of the articles (a real edit, modified time now)."""
    chosen = rng.sample(urls, min(len(urls), round(share * len(urls))))
    for url in chosen:
        site.edit(url, append=fake_paragraph(rng))
    return set(chosen)


def _in_pass_seconds(stdout: Path) -> float | None:
    """The monitor's own pass time, from its summary line ("pass: ... in 12.3s")."""
    found = re.findall(r"^pass: .* in ([\d.]+)s$", stdout.read_text(errors="replace"), re.M)
    return float(found[-1]) if found else None


def run_pass(number: int, home: Path, env: dict[str, str], edited: set[str],
             seen: set[str]) -> PassResult:
    warc0, db0 = store_bytes(home)
    log = home / f"pass-{number}"
    usage = run_measured(["monitor", "check"], env, log)
    warc1, db1 = store_bytes(home)
    result = PassResult(number, usage, _in_pass_seconds(log.with_suffix(".out")),
                        warc1 - warc0, db1 - db0, edited)
    for event in new_events(env, seen):
        result.events[str(event["kind"])] += 1
        if event["kind"] == "changed":
            result.changed_urls.add(str(event["url"]))
    if usage.returncode != 0:
        print(log.with_suffix(".err").read_text(errors="replace")[-3000:], file=sys.stderr)
    return result


# ------------------------------------------------------------------ reporting


def problems(result: PassResult, sources: int) -> list[str]:
    """Why this pass does not show what it claims (empty: it does)."""
    found, ev = [], result.events
    if result.usage.returncode != 0:
        found.append(f"monitor check exited {result.usage.returncode}")
    if ev["changed"] != len(result.edited) or result.changed_urls != result.edited:
        missed, spurious = result.edited - result.changed_urls, result.changed_urls - result.edited
        found.append(f"{len(result.edited)} edits made but {ev['changed']} changed events "
                     f"({len(missed)} edits missed, {len(spurious)} spurious)")
    if result.number == 1 and ev["archived"] != sources:
        found.append(f"{ev['archived']} archived events, expected {sources}")
    if ev["failing"]:
        found.append(f"{ev['failing']} sources failing")
    return [f"pass {result.number}: {p}" for p in found]


def print_pass(r: PassResult, sources: int) -> None:
    u = r.usage
    own = f" (monitor's own pass {r.in_pass:.1f} s)" if r.in_pass is not None else ""
    kinds = ["archived", "changed", "failing"]
    kinds += sorted(set(r.events) - set(kinds))
    counts = ", ".join(f"{k} {r.events[k]}" for k in kinds)
    what = "all new" if r.number == 1 else "churned pages"
    print(f"pass {r.number}: {what}, monitor exit {u.returncode}")
    print(f"  wall {u.wall:.1f} s{own}, {sources / u.wall:.1f} checks/s")
    print(f"  CPU {u.cpu / sources * 1000:.1f} ms/check ({u.cpu:.1f} s: monitor process "
          f"{u.main_cpu:.1f}, extraction workers {u.cpu - u.main_cpu:.1f}); "
          f"site CPU {u.site_cpu:.1f} s")
    print(f"  peak RSS {u.maxrss_kb / KB:.0f} MB (max over the monitor's processes)")
    print(f"  archive +{(r.warc_bytes + r.db_bytes) / sources / KB:.1f} KB/check "
          f"(WARC {r.warc_bytes / sources / KB:.1f}, sqlite {r.db_bytes / sources / KB:.1f})")
    print(f"  events: {counts}; articles edited before this pass: {len(r.edited)}", flush=True)


def print_table(results: list[PassResult], sources: int) -> None:
    head = ("pass", "wall s", "checks/s", "CPU ms/chk", "site CPU s", "RSS MB", "WARC KB/chk",
            "DB KB/chk", "archived", "edits", "changed", "failing")
    rows = [head]
    for r in results:
        u, ev = r.usage, r.events
        rows.append((str(r.number), f"{u.wall:.1f}", f"{sources / u.wall:.1f}",
                     f"{u.cpu / sources * 1000:.1f}", f"{u.site_cpu:.1f}",
                     f"{u.maxrss_kb / KB:.0f}", f"{r.warc_bytes / sources / KB:.1f}",
                     f"{r.db_bytes / sources / KB:.1f}", str(ev["archived"]),
                     str(len(r.edited)), str(ev["changed"]), str(ev["failing"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


# ------------------------------------------------------------------ main


def start_site(opts: Options) -> tuple[NewsSite, list[str]]:
    """The imitation site in this process's threads, with ``opts.sources`` articles."""
    site = NewsSite(outlet_names(opts.outlets), page_kb=opts.page_kb, log_limit=0).start()
    urls = populate(site, opts.sources, random.Random(opts.seed))
    with urllib.request.urlopen(urls[0]) as response:
        size = len(response.read())
    print(f"site: in-process (tests.site.NewsSite, one ThreadingHTTPServer per outlet in this "
          f"process), {opts.outlets} outlets, {opts.sources} articles, pages ~{size / KB:.0f} KB "
          "with churning chrome")
    return site, urls


def print_header(opts: Options, home: Path, reaping: bool) -> None:
    for line in machine_lines():
        print(line)
    print(f"code: {REPO} at {code_version()}")
    print(f"monitor: MONITOR_HOME={home}, MONITOR_FETCH__CONCURRENCY={opts.concurrency}, "
          f"MONITOR_FETCH__PER_HOST={opts.per_host}, "
          f"{' '.join(opts.settings) or 'other settings default'}")
    print(f"run: {opts.sources} sources, {opts.passes} passes, edit share {opts.edit_share:g}")
    if not reaping:
        print("warning: cannot become a child subreaper: CPU and RSS miss extraction workers")


def benchmark(opts: Options, home: Path) -> list[PassResult]:
    site, urls = start_site(opts)
    env, rng = monitor_env(home, opts), random.Random(opts.seed + 1)
    seen: set[str] = set()
    results: list[PassResult] = []
    try:
        url_file = home / "urls.txt"
        url_file.write_text("".join(u + "\n" for u in urls))
        print(run_cli(["import", str(url_file)], env).strip(), flush=True)
        for number in range(1, opts.passes + 1):
            edited = make_edits(site, urls, opts.edit_share, rng) if number > 1 else set()
            results.append(run_pass(number, home, env, edited, seen))
            print_pass(results[-1], opts.sources)
    finally:
        site.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    reaping = enable_subreaper()
    home = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    print_header(opts, home, reaping)
    try:
        results = benchmark(opts, home)
    finally:
        if not opts.keep:
            shutil.rmtree(home, ignore_errors=True)
    print()
    print_table(results, opts.sources)
    found = [p for r in results for p in problems(r, opts.sources)]
    for line in found:
        print("FAIL:", line)
    print("FAIL" if found else "OK: every pass exited 0 and changed events == edits made")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
