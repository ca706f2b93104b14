"""Side by side in one run: urlwatch and this monitor on the same real pages, same machine.

    python benchmarks/vs_urlwatch.py [--quick] [--urls N] [--passes P] [--churn invisible|visible]
        [--corpus DIR] [--outlets K] [--setting SECTION.KEY=VALUE]

N URLs (500) cycle over the 181 real news pages of the shared corpus
(``../shared/corpus/article-extraction-benchmark/html/*.html.gz``, read in place, never
copied), served by benchmarks/pageserver.py on 127.0.0.1 over K outlets (ports) with churn
injected per request, as real sites do:

- ``--churn invisible`` (default): a ``__NEXT_DATA__`` page-state script blob with a fresh
  request id and random padding, fresh script nonces, and an HTML comment with the serve time;
- ``--churn visible``: the same plus a visible "Page updated <time>" line at the top of
  ``<body>``, so every pass changes the text both tools see.

urlwatch 2.29 (extra ``bench``) gets its own directory: ``urls.yaml`` with N ``url`` jobs and
filter ``html2text``, ``urlwatch.yaml`` with the stdout report only (no colour, captured to a
file), its cache database, and XDG dirs pointing there. The monitor gets its own
MONITOR_HOME (``monitor import`` once). Then P passes, each running ``urlwatch`` and then
``monitor check`` as subprocesses. urlwatch runs its jobs in a pool of 10 threads
(``MAX_WORKERS`` in urlwatch/worker.py, not configurable), so the monitor gets
``fetch.concurrency=10`` (and its default per-host limit of 2, with K hosts); its extraction
runs in its process pool of one worker per core, as it always does.

Per tool and pass: wall time, checks/s, CPU per check (user + sys, with children), peak RSS
(the largest process), bytes stored per check (urlwatch: its cache database's growth; the
monitor: WARC + database growth), and what each reported. Then the ratios monitor/urlwatch.
Exits 1 when either tool fails, 2 when the corpus is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import machine_lines  # noqa: E402
from benchmarks.measure import (  # noqa: E402
    KB,
    Usage,
    code_version,
    enable_subreaper,
    load_line,
    monitor_env,
    parse_settings,
    print_table,
    reap,
    run_measured,
    startup_line,
    store_bytes,
    tree_bytes,
)
from benchmarks.pageserver import PageServer, Spec  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "article-extraction-benchmark" / "html"
URLWATCH_WORKERS = 10  # urlwatch.worker.MAX_WORKERS in 2.29
REFERENCE = {"checks/s": 65.0, "CPU ms/check": 12.0, "peak RSS MB": 342.0, "KB/check": 90.0}
URLWATCH_CONFIG = """\
display: {new: true, error: true, unchanged: false, empty-diff: false}
report:
  text: {line_length: 75, details: true, footer: false, minimal: false, separate: false}
  stdout: {enabled: true, color: false}
  email: {enabled: false}
  html: {diff: unified, separate: false}
  markdown: {details: true, footer: false, minimal: false, separate: false}
"""


@dataclass(frozen=True)
class Options:
    urls: int
    passes: int
    churn: str
    corpus: Path
    outlets: int
    keep: bool
    settings: dict[str, str]


@dataclass
class Run:
    tool: str
    number: int
    checks: int
    usage: Usage
    stored: int  # bytes the tool's store grew by
    reported: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.checks / self.usage.wall if self.usage.wall else 0.0


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=500, help="URLs watched by each tool (500)")
    parser.add_argument("--passes", type=int, default=3, help="passes of each tool (3)")
    parser.add_argument("--churn", choices=("invisible", "visible"), default="invisible",
                        help="what changes on every request (invisible: script blob, nonces, "
                             "a comment; visible: also a timestamp line in the page)")
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help=f"directory of *.html.gz pages ({CORPUS})")
    parser.add_argument("--outlets", type=int, default=10, help="outlets = hosts (10)")
    parser.add_argument("--keep", action="store_true", help="keep both tools' directories")
    parser.add_argument("--quick", action="store_true", help="60 URLs, 2 passes")
    parser.add_argument("--setting", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="an extra monitor setting, e.g. archive.fsync=false")
    args = parser.parse_args(argv)
    if args.quick:
        args.urls, args.passes = 60, 2
    if min(args.urls, args.passes, args.outlets) < 1:
        parser.error("--urls, --passes and --outlets must be at least 1")
    settings = {"fetch.concurrency": str(URLWATCH_WORKERS), **parse_settings(args.setting)}
    return Options(args.urls, args.passes, args.churn, args.corpus, args.outlets, args.keep,
                   settings)


# ------------------------------------------------------------------ urlwatch


def urlwatch_dir(root: Path, urls: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """urlwatch's files under ``root``; its command line and environment."""
    root.mkdir(parents=True)
    jobs = "---\n".join(f"name: page {i}\nurl: {url}\nfilter: html2text\n"
                        for i, url in enumerate(urls))
    (root / "urls.yaml").write_text(jobs)
    (root / "urlwatch.yaml").write_text(URLWATCH_CONFIG)
    cmd = ["urlwatch", "--urls", str(root / "urls.yaml"), "--config", str(root / "urlwatch.yaml"),
           "--hooks", str(root / "hooks.py"), "--cache", str(root / "cache.db")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(HOME=str(root), XDG_CONFIG_HOME=str(root / "config"),
               XDG_CACHE_HOME=str(root / "cache"))
    return cmd, env


def urlwatch_pass(number: int, root: Path, cmd: list[str], env: dict[str, str], checks: int,
                  keep: Sequence[int]) -> Run:
    before = tree_bytes(root / "cache.db") if (root / "cache.db").exists() else 0
    log = root / f"pass-{number}"
    usage = run_measured(cmd, env, log, keep)
    stored = tree_bytes(root / "cache.db") - before
    out = log.with_suffix(".out").read_text(errors="replace")
    reported = Counter(re.findall(r"^\d+\. (NEW|CHANGED|ERROR|UNCHANGED): ", out, re.M))
    if usage.returncode != 0:
        print(log.with_suffix(".err").read_text(errors="replace")[-3000:], file=sys.stderr)
    return Run("urlwatch", number, checks, usage, stored, reported)


# ------------------------------------------------------------------ the monitor


def monitor_pass(number: int, home: Path, env: dict[str, str], checks: int,
                 keep: Sequence[int]) -> Run:
    warc0, db0 = store_bytes(home)
    since = datetime.now(UTC).isoformat()
    log = home / f"pass-{number}"
    usage = run_measured(["monitor", "check"], env, log, keep)
    warc1, db1 = store_bytes(home)
    events = subprocess.run(["monitor", "events", "--json", "--since", since, "--limit",
                             "100000000"], env=env, capture_output=True, text=True, check=False)
    reap(keep)
    reported = Counter(str(json.loads(line)["kind"]) for line in events.stdout.splitlines()
                       if line.strip())
    if usage.returncode != 0:
        print(log.with_suffix(".err").read_text(errors="replace")[-3000:], file=sys.stderr)
    return Run("monitor", number, checks, usage, warc1 + db1 - warc0 - db0, reported)


# ------------------------------------------------------------------ report


def print_run(r: Run) -> None:
    u = r.usage
    print(f"pass {r.number} {r.tool:8}: exit {u.returncode}, wall {u.wall:.1f} s = {r.rate:.1f} "
          f"checks/s, CPU {u.cpu / r.checks * 1000:.1f} ms/check, peak RSS {u.maxrss_kb / KB:.0f} MB, "
          f"stored {r.stored / r.checks / KB:.1f} KB/check; reported {dict(r.reported)}", flush=True)


def totals(runs: Sequence[Run]) -> dict[str, float]:
    checks = sum(r.checks for r in runs)
    wall = sum(r.usage.wall for r in runs)
    return {"checks/s": checks / wall, "CPU ms/check": sum(r.usage.cpu for r in runs) / checks * 1000,
            "peak RSS MB": max(r.usage.maxrss_kb for r in runs) / KB,
            "KB/check": sum(r.stored for r in runs) / checks / KB}


def print_summary(runs: list[Run]) -> None:
    rows = [["pass", "tool", "wall s", "checks/s", "CPU ms/chk", "peak RSS MB", "KB/chk",
             "reported"]]
    for r in runs:
        u = r.usage
        rows.append([str(r.number), r.tool, f"{u.wall:.1f}", f"{r.rate:.1f}",
                     f"{u.cpu / r.checks * 1000:.1f}", f"{u.maxrss_kb / KB:.0f}",
                     f"{r.stored / r.checks / KB:.1f}",
                     " ".join(f"{k} {v}" for k, v in sorted(r.reported.items())) or "-"])
    print()
    print_table(rows)
    print()
    rows = [["all passes", "urlwatch", "monitor", "monitor/urlwatch", "wanted",
             "urlwatch, issue's reference"]]
    ours, theirs = (totals([r for r in runs if r.tool == t]) for t in ("monitor", "urlwatch"))
    wanted = {"checks/s": ">= 2", "CPU ms/check": "-", "peak RSS MB": "< 1", "KB/check": "< 1"}
    for key in theirs:
        rows.append([key, f"{theirs[key]:.1f}", f"{ours[key]:.1f}",
                     f"{ours[key] / theirs[key]:.2f}" if theirs[key] else "-", wanted[key],
                     f"{REFERENCE[key]:g}"])
    print_table(rows)
    later = [r for r in runs if r.number > 1]
    if later:
        ours, theirs = (totals([r for r in later if r.tool == t]) for t in ("monitor", "urlwatch"))
        print("passes 2+ only: " + ", ".join(
            f"{k} {ours[k] / theirs[k]:.2f}" for k in theirs if theirs[k]) + " (monitor/urlwatch)")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if not sorted(opts.corpus.glob("*.html.gz")):
        print(f"no corpus at {opts.corpus} (*.html.gz): pass --corpus DIR", file=sys.stderr)
        return 2
    if shutil.which("urlwatch") is None:
        print("urlwatch is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    reaping = enable_subreaper()
    for line in machine_lines():
        print(line)
    version = subprocess.run(["urlwatch", "--version"], capture_output=True, text=True).stdout
    print(f"code: {REPO} at {code_version()}; {version.strip()}; {load_line()}")
    if not reaping:
        print("warning: cannot become a child subreaper: CPU and RSS miss extraction workers")
    top = Path(tempfile.mkdtemp(prefix="monitor-vs-urlwatch-"))
    modes = ("churn" if opts.churn == "invisible" else "visible",) * opts.outlets
    server = PageServer(Spec(modes, opts.urls, corpus=str(opts.corpus)))
    keep, runs = (server.pid,), []
    try:
        pages = len(sorted(opts.corpus.glob("*.html.gz")))
        print(f"pages: {opts.urls} URLs cycling over {pages} corpus pages from {opts.corpus}, "
              f"served by benchmarks/pageserver.py (pid {server.pid}) on {opts.outlets} ports, "
              f"churn: {opts.churn}")
        print(f"concurrency: urlwatch {URLWATCH_WORKERS} threads (fixed); monitor "
              + " ".join(f"{k}={v}" for k, v in opts.settings.items())
              + ", per-host limit default, extraction pool = cores")
        print(startup_line(opts.settings, keep), flush=True)
        cmd, uw_env = urlwatch_dir(top / "urlwatch", server.urls)
        home = top / "monitor"
        home.mkdir()
        env = monitor_env(home, opts.settings)
        (home / "urls.txt").write_text("".join(u + "\n" for u in server.urls))
        done = subprocess.run(["monitor", "import", str(home / "urls.txt")], env=env,
                              capture_output=True, text=True, check=False)
        reap(keep)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        for number in range(1, opts.passes + 1):
            runs.append(urlwatch_pass(number, top / "urlwatch", cmd, uw_env, opts.urls, keep))
            print_run(runs[-1])
            runs.append(monitor_pass(number, home, env, opts.urls, keep))
            print_run(runs[-1])
        cpu, statuses = server.stats()
        print(f"server: {cpu:.1f} s CPU in all, answers {dict(sorted(statuses.items()))}")
    finally:
        server.close()
        if opts.keep:
            print(f"kept in {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    print_summary(runs)
    print(load_line())
    failed = [f"{r.tool} pass {r.number} exited {r.usage.returncode}" for r in runs
              if r.usage.returncode != 0]
    for line in failed:
        print("FAIL:", line)
    print("FAIL" if failed else "OK: both tools checked every URL on every pass")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
