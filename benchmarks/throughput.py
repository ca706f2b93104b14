"""Issue 7's single-machine targets, measured in one run: checks/s per kind of page vs its target.

    python benchmarks/throughput.py [--quick] [--sources N] [--static-sources M] [--passes P]
        [--outlets K] [--page-kb KB] [--corpus DIR | --imitation] [--bound-pages B]
        [--setting SECTION.KEY=VALUE]

Runs the real CLI (``monitor import``, then ``monitor check`` per pass) as a subprocess on
two fresh homes, served by benchmarks/pageserver.py in its own process, whose CPU is printed
beside each pass. The churning home serves the 181 real news pages of the shared corpus
(``--corpus``, read in place; the issue's extraction bound is stated for such pages), with
churn added and, for the edited passes, a word of each article changed; ``--imitation``
serves ~100 KB imitation articles (tests/site's templates) instead, which extract in a tenth
of the time. The static home serves the imitation articles.

- the extraction bound, measured first on the served pages: the median time of the
  monitor's full extraction (``extract_article``, after ``extraction_input`` when the
  monitor has it), timed in a process pool of all cores; bound = cores / median;
- churning home (N sources, outlets in ``churn`` mode: ``__NEXT_DATA__`` blob, nonces and
  a comment re-randomised per request): pass 1 archives every article; then P passes with
  the articles unchanged (``churn``, the issue's churning pages: target >= 80% of the
  bound, which the fast path passes by extracting nothing), then P passes each after every
  article was edited (``edited``, a stress case beyond the issue's targets: full extraction
  and a diff of every page, its rate shown as a share of the median and the mean bound);
- static home (M sources): pass 1 archives; P passes of 304s (``etag`` outlets), then the
  outlets stop sending validators and P passes get the identical bytes (``identical``);
  target >= 1,000 checks/s, and no extraction.

checks/s is over the monitor's own pass time (its ``pass: … in Ts`` line: a daemon pays the
process start-up once, not per pass); the wall time with start-up is printed beside it.
Exits 1 when a command fails, a pass raises ``changed`` events other than the edits made,
a source is failing, or the server did not answer as the scenario says (304s …).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import machine_lines  # noqa: E402
from benchmarks.measure import (  # noqa: E402
    KB,
    PassLine,
    Usage,
    code_version,
    enable_subreaper,
    load_line,
    monitor_env,
    parse_settings,
    pass_line,
    print_table,
    reap,
    run_measured,
    startup_line,
    store_bytes,
)
from benchmarks.pageserver import PageServer, Spec  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "article-extraction-benchmark" / "html"
TARGET_BOUND_SHARE = 0.8  # churning pages: >= 80% of the extraction bound
TARGET_UNCHANGED = 1000.0  # checks/s for 304 and identical payloads


@dataclass(frozen=True)
class Options:
    sources: int
    static_sources: int
    passes: int
    outlets: int
    page_kb: int
    corpus: Path | None  # the churning home serves these real pages; None: imitation articles
    bound_pages: int
    seed: int
    keep: bool
    settings: dict[str, str]


@dataclass
class Pass:
    scenario: str
    sources: int
    usage: Usage
    line: PassLine
    server_cpu: float
    statuses: Counter[int]
    warc_bytes: int
    db_bytes: int
    edited: set[str] = field(default_factory=set)
    events: Counter[str] = field(default_factory=Counter)
    changed_urls: set[str] = field(default_factory=set)

    @property
    def seconds(self) -> float:
        """The monitor's own pass time, or the wall time when it did not print one."""
        return self.line.seconds if self.line.seconds else self.usage.wall

    @property
    def rate(self) -> float:
        return self.sources / self.seconds if self.seconds else 0.0


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=1000, help="churning pages watched (1000)")
    parser.add_argument("--static-sources", type=int, default=2000,
                        help="static pages watched, for 304 and identical payloads (2000)")
    parser.add_argument("--passes", type=int, default=2, help="measured passes per scenario (2)")
    parser.add_argument("--outlets", type=int, default=10, help="outlets (ports) per home (10)")
    parser.add_argument("--page-kb", type=int, default=100, help="page size in KB (100)")
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="real pages (*.html.gz) for the churning home (the shared corpus)")
    parser.add_argument("--imitation", action="store_true",
                        help="imitation articles (--page-kb) for the churning home, not the corpus")
    parser.add_argument("--bound-pages", type=int, default=200,
                        help="served pages timed for the extraction bound (200)")
    parser.add_argument("--seed", type=int, default=1, help="seed for text, edits and churn (1)")
    parser.add_argument("--keep", action="store_true", help="keep the MONITOR_HOME directories")
    parser.add_argument("--quick", action="store_true",
                        help="100 churning and 200 static sources, 1 pass each, 40 bound pages")
    parser.add_argument("--setting", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a monitor setting for both homes, e.g. archive.fsync=false")
    args = parser.parse_args(argv)
    if args.quick:
        args.sources, args.static_sources, args.passes, args.bound_pages = 100, 200, 1, 40
    if min(args.sources, args.static_sources, args.passes, args.outlets, args.bound_pages) < 1:
        parser.error("--sources, --static-sources, --passes, --outlets and --bound-pages must be >= 1")
    corpus = None if args.imitation else args.corpus
    if corpus is not None and not any(corpus.glob("*.html.gz")):
        if corpus != CORPUS:
            parser.error(f"no *.html.gz pages in {corpus}: pass --corpus DIR, or --imitation")
        print(f"no corpus at {corpus}: the churning home serves imitation articles")
        corpus = None
    return Options(args.sources, args.static_sources, args.passes, args.outlets, args.page_kb,
                   corpus, args.bound_pages, args.seed, args.keep, parse_settings(args.setting))


# ------------------------------------------------------------------ the extraction bound


def _timed_extraction(page: tuple[bytes, str]) -> float:
    """Seconds one full extraction of the monitor takes (runs in a pool worker)."""
    from monitor import extract

    html, url = page
    started = time.perf_counter()
    prepare = getattr(extract, "extraction_input", None)
    extract.extract_article(prepare(html) if prepare else html, url)
    return time.perf_counter() - started


def extraction_bound(urls: Sequence[str]) -> tuple[float, float, float, int, str]:
    """(median seconds, bound in pages/s, mean-based bound, cores, what was timed) over the
    served pages."""
    from monitor import extract

    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(lambda u: (urllib.request.urlopen(u, timeout=30).read(), u), urls))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_timed_extraction, pages[:cores * 2]))  # warm up: imports, first-call caches
        times = list(pool.map(_timed_extraction, pages))
    median, mean = statistics.median(times), statistics.fmean(times)
    what = ("extraction_input + extract_article" if hasattr(extract, "extraction_input")
            else "extract_article")
    # the issue states its bound by the median; a pass over these pages is bounded by the mean
    what += f"; mean {mean * 1000:.1f} ms → {cores / mean:.0f} pages/s"
    return median, cores / median, cores / mean, cores, what


# ------------------------------------------------------------------ running passes


def run_cli(args: list[str], env: dict[str, str], keep: Sequence[int]) -> str:
    """Run an unmeasured ``monitor`` command; its stdout (exits on failure)."""
    done = subprocess.run(["monitor", *args], env=env, capture_output=True, text=True, check=False)
    reap(keep)
    if done.returncode != 0:
        sys.exit(f"monitor {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def run_pass(scenario: str, home: Path, env: dict[str, str], server: PageServer,
             sources: int, edited: set[str], keep: Sequence[int]) -> Pass:
    warc0, db0 = store_bytes(home)
    cpu0, statuses0 = server.stats()
    since = datetime.now(UTC).isoformat()
    number = len(list(home.glob("pass-*.out"))) + 1
    log = home / f"pass-{number}-{scenario}"
    usage = run_measured(["monitor", "check"], env, log, keep)
    cpu1, statuses1 = server.stats()
    warc1, db1 = store_bytes(home)
    result = Pass(scenario, sources, usage, pass_line(log.with_suffix(".out").read_text(errors="replace")),
                  cpu1 - cpu0, statuses1 - statuses0, warc1 - warc0, db1 - db0, edited)
    out = run_cli(["events", "--json", "--since", since, "--limit", "100000000"], env, keep)
    for event in (json.loads(line) for line in out.splitlines() if line.strip()):
        result.events[str(event["kind"])] += 1
        if event["kind"] == "changed":
            result.changed_urls.add(str(event["url"]))
    if usage.returncode != 0:
        print(log.with_suffix(".err").read_text(errors="replace")[-3000:], file=sys.stderr)
    print_pass(result)
    return result


def print_pass(p: Pass) -> None:
    u, line = p.usage, p.line
    extracted = "not reported" if line.extracted is None else str(line.extracted)
    fingerprint = "" if line.fingerprint is None else f", {line.fingerprint} by fingerprint"
    print(f"{p.scenario}: {p.sources} sources, monitor exit {u.returncode}, "
          f"pass {p.seconds:.2f} s (wall {u.wall:.2f} s) = {p.rate:.0f} checks/s; "
          f"extracted {extracted}{fingerprint}; CPU {u.cpu / p.sources * 1000:.2f} ms/check "
          f"(monitor process {u.main_cpu:.1f} s, extraction workers {u.cpu - u.main_cpu:.1f} s); "
          f"server CPU {p.server_cpu:.1f} s, answers {dict(sorted(p.statuses.items()))}; "
          f"RSS {u.maxrss_kb / KB:.0f} MB; events {dict(p.events)}", flush=True)


def imported_home(opts: Options, home: Path, server: PageServer,
                  keep: Sequence[int]) -> tuple[dict[str, str], list[str]]:
    """A new MONITOR_HOME watching every page the server has: its environment and URLs."""
    home.mkdir(parents=True)
    env = monitor_env(home, opts.settings)
    urls = server.urls
    (home / "urls.txt").write_text("".join(u + "\n" for u in urls))
    run_cli(["import", str(home / "urls.txt")], env, keep)
    return env, urls


def churning_home(opts: Options, home: Path, server: PageServer, keep: Sequence[int]) -> list[Pass]:
    env, urls = imported_home(opts, home, server, keep)
    passes = [run_pass("first", home, env, server, len(urls), set(), keep)]
    passes += [run_pass("churn", home, env, server, len(urls), set(), keep) for _ in range(opts.passes)]
    for number in range(opts.passes):
        edited = server.edit(1.0, opts.seed + number)
        passes.append(run_pass("edited", home, env, server, len(urls), edited, keep))
    return passes


def static_home(opts: Options, home: Path, server: PageServer, keep: Sequence[int]) -> list[Pass]:
    env, urls = imported_home(opts, home, server, keep)
    passes = [run_pass("first", home, env, server, len(urls), set(), keep)]
    passes += [run_pass("304", home, env, server, len(urls), set(), keep) for _ in range(opts.passes)]
    server.set_mode("static")
    passes += [run_pass("identical", home, env, server, len(urls), set(), keep)
               for _ in range(opts.passes)]
    return passes


# ------------------------------------------------------------------ verdicts and tables


def problems(p: Pass) -> list[str]:
    """Why this pass does not show what it claims (empty: it does)."""
    found = []
    if p.usage.returncode != 0:
        found.append(f"monitor check exited {p.usage.returncode}")
    if p.changed_urls != p.edited:
        found.append(f"{len(p.edited)} articles edited but {p.events['changed']} changed events "
                     f"({len(p.edited - p.changed_urls)} missed, "
                     f"{len(p.changed_urls - p.edited)} spurious)")
    if p.scenario == "first" and p.events["archived"] != p.sources:
        found.append(f"{p.events['archived']} archived events, expected {p.sources}")
    if p.events["failing"]:
        found.append(f"{p.events['failing']} sources failing")
    if p.scenario in ("304", "identical") and p.line.extracted:
        found.append(f"{p.line.extracted} extractions of pages that did not change")
    expected = 304 if p.scenario == "304" else 200
    if p.statuses[expected] < p.sources:
        found.append(f"the server answered {dict(p.statuses)}, expected {p.sources} x {expected}")
    return [f"{p.scenario} pass: {line}" for line in found]


def _count(values: list[int | None]) -> str:
    """The sum, or "?" when the monitor's pass line did not say."""
    return "?" if any(v is None for v in values) else str(sum(v or 0 for v in values))


def summary_rows(passes: list[Pass], bound: float, mean_bound: float) -> list[list[str]]:
    """One row per scenario over all its passes: sums of checks, seconds, CPU, bytes."""
    rows = [["scenario", "checks", "checks/s", "target", "ratio", "extracted", "by fingerprint",
             "CPU ms/chk", "main ms/chk", "server ms/req", "RSS MB", "KB/chk"]]
    targets = {"first": (None, "-"),
               "churn": (TARGET_BOUND_SHARE * bound, f">= {TARGET_BOUND_SHARE:.0%} of bound"),
               "edited": (None, "- (stress case)"),
               "304": (TARGET_UNCHANGED, ">= 1,000, extracted 0"),
               "identical": (TARGET_UNCHANGED, ">= 1,000, extracted 0")}
    for scenario, (target, label) in targets.items():
        chosen = [p for p in passes if p.scenario == scenario]
        if not chosen:
            continue
        checks = sum(p.sources for p in chosen)
        rate = checks / sum(p.seconds for p in chosen)
        ratio = f"{rate / target:.2f}" if target else "-"
        if scenario in ("churn", "edited"):
            share = f"{rate / bound:.0%} of bound, {rate / mean_bound:.0%} of mean bound"
            ratio = share if ratio == "-" else f"{ratio} ({share})"
        requests = sum(sum(p.statuses.values()) for p in chosen) or 1
        rows.append([scenario, str(checks), f"{rate:.0f}", label, ratio,
                     _count([p.line.extracted for p in chosen]),
                     _count([p.line.fingerprint for p in chosen]),
                     f"{sum(p.usage.cpu for p in chosen) / checks * 1000:.2f}",
                     f"{sum(p.usage.main_cpu for p in chosen) / checks * 1000:.2f}",
                     f"{sum(p.server_cpu for p in chosen) / requests * 1000:.3f}",
                     f"{max(p.usage.maxrss_kb for p in chosen) / KB:.0f}",
                     f"{sum(p.warc_bytes + p.db_bytes for p in chosen) / checks / KB:.1f}"])
    return rows


def print_header(opts: Options, reaping: bool) -> None:
    for line in machine_lines():
        print(line)
    print(f"code: {REPO} at {code_version()}; {load_line()}")
    settings = " ".join(f"{k}={v}" for k, v in opts.settings.items()) or "every setting default"
    print(f"monitor: {settings}; {opts.outlets} outlets (ports) per home")
    print(f"run: {opts.sources} churning + {opts.static_sources} static sources, {opts.passes} "
          f"measured passes per scenario, pages ~{opts.page_kb} KB")
    if not reaping:
        print("warning: cannot become a child subreaper: CPU and RSS miss extraction workers")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    reaping = enable_subreaper()
    print_header(opts, reaping)
    top = Path(tempfile.mkdtemp(prefix="monitor-throughput-"))
    churning = PageServer(Spec(("churn",) * opts.outlets, opts.sources,
                               0 if opts.corpus else opts.sources, opts.page_kb,
                               corpus=str(opts.corpus or ""), seed=opts.seed))
    static = PageServer(Spec(("etag",) * opts.outlets, opts.static_sources, opts.static_sources,
                             opts.page_kb, seed=opts.seed + 1))
    try:
        sizes = sorted(len(urllib.request.urlopen(u, timeout=30).read())
                       for u in churning.urls[:opts.bound_pages])
        pages = (f"the {len(list(opts.corpus.glob('*.html.gz')))} real pages of {opts.corpus} "
                 f"(median {sizes[len(sizes) // 2] / KB:.0f} KB served, churn added)" if opts.corpus
                 else f"tests.site article templates of {sizes[0] / KB:.0f} KB")
        print(f"site: benchmarks/pageserver.py in its own process per home (pids {churning.pid}, "
              f"{static.pid}); churning home: {pages}; static home: tests.site article templates")
        median, bound, mean_bound, cores, what = extraction_bound(churning.urls[:opts.bound_pages])
        print(f"extraction bound: median {median * 1000:.1f} ms ({what}) over "
              f"{min(opts.bound_pages, opts.sources)} served pages in a pool of {cores} → "
              f"{bound:.0f} pages/s on {cores} cores", flush=True)
        keep = (churning.pid, static.pid)  # children that live on while the monitor runs
        print(startup_line(opts.settings, keep), flush=True)
        passes = churning_home(opts, top / "churning", churning, keep)
        passes += static_home(opts, top / "static", static, keep)
    finally:
        churning.close()
        static.close()
        print(f"homes kept in {top}" if opts.keep else "", end="\n" if opts.keep else "")
        if not opts.keep:
            shutil.rmtree(top, ignore_errors=True)
    print(f"\n{load_line()}; all passes of each scenario (checks/s over the monitor's own "
          "pass times, CPU with start-up):")
    print_table(summary_rows(passes, bound, mean_bound))
    found = [line for p in passes for line in problems(p)]
    for line in found:
        print("FAIL:", line)
    print("FAIL" if found else "OK: every pass exited 0, changed events == edits, answers as planned")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
