"""Bytes stored per check: the capture policy against keeping every response, in one run.

    python benchmarks/archive_bytes.py [--quick] [--articles N] [--days D] [--seed S] [--page-kb K]

The imitation news site (tests/site) serves N articles: two thirds on outlets whose pages
churn on every request (nonce, CSRF token, clock line, "most read" rail, a ``__NEXT_DATA__``
blob padding the page to ``--page-kb`` KB, default 100), one third on a static outlet that
sends ETag/Last-Modified and answers 304. Every 6 hours for ``--days`` days (default 7) the
real ``check_source`` checks every article through ``run_pass``, on a manual clock, in two
homes side by side over the very same site: the default policy (``archive.keep =
changes``: full response on change, on a link-health change and once a day; otherwise a
compact ``metadata`` record or a revisit) and ``archive.keep = every``. Before each pass
2% of the articles get an edit, and one article in 30 dies (404) on day 2.

Per home it prints the WARC bytes per check by what the check found (unchanged churning
page, unchanged static page or 304, changed article, link-health change), each kind's
record type, the database growth per check, and the whole archive per check including
the daily full copies. Exits 1 if an unchanged check costs more than 2 KB of WARC on
average or at worst under the default policy (issue 5's target).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlmodel import col, select  # noqa: E402

from benchmarks.common import machine_lines, scratch_home, watch  # noqa: E402
from monitor.clock import ManualClock  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.home import Home  # noqa: E402
from monitor.schedule import run_pass  # noqa: E402
from monitor.store import session  # noqa: E402
from monitor.store.models import Capture  # noqa: E402
from tests.site import NewsSite  # noqa: E402
from tests.site.pages import fake_sentence, fake_story  # noqa: E402

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
STEP = timedelta(hours=6)
CHURNING, STATIC = ("cnn", "guardian"), "reuters"
ENV = {"MONITOR_EXTRACT__WORKERS": "0", "MONITOR_ARCHIVE__FSYNC": "false", "MONITOR_HEALTH__PROBE": "false",
       "MONITOR_IDENTITY__CONTACT_URL": "mailto:bench@example.org"}
BUDGET = 2048


def publish(site: NewsSite, total: int, rng: random.Random) -> list[str]:
    urls = []
    for n in range(total):
        outlet = STATIC if n % 3 == 2 else CHURNING[n % 2]
        headline, paragraphs = fake_story(rng)
        urls.append(site.add_article(outlet, f"story-{n}", headline=headline, byline="By Staff",
                                     published=T0 - timedelta(days=1), paragraphs=paragraphs))
    return urls


def perturb(site: NewsSite, urls: list[str], rng: random.Random, number: int, dying: set[str]) -> None:
    for url in rng.sample(urls, max(1, len(urls) // 50)):
        if url not in dying:
            site.edit(url, append=fake_sentence(rng))
    if number == 8:  # day 2
        for url in dying:
            site.set_status(url, 404)


async def run(homes: dict[str, Home], site: NewsSite, urls: list[str], checks: int, rng: random.Random,
              dying: set[str]) -> float:
    clocks = {name: ManualClock(T0) for name in homes}
    contexts = {}
    ids = {name: watch(home, urls, T0) for name, home in homes.items()}
    in_checks = 0.0
    for name, home in homes.items():
        fetcher = Fetcher(home.settings.fetch, home.settings.identity.user_agent(), clocks[name],
                          transport=site.transport())
        contexts[name] = home.check_context(clocks[name], fetcher=fetcher, rng=random.Random(1))
    entered = {name: await ctx.__aenter__() for name, ctx in contexts.items()}
    try:
        for number in range(checks):
            if number:
                perturb(site, urls, rng, number, dying)
            for name in homes:
                clocks[name].set(T0 + number * STEP)
                started = time.monotonic()
                summary = await run_pass(entered[name], ids[name])
                in_checks += time.monotonic() - started
                if number % 4 == 0:
                    print(f"  day {number // 4} {name:7s}: {summary.line()}")
    finally:
        for ctx in contexts.values():
            await ctx.__aexit__(None, None, None)
    return in_checks


def _health(capture: Capture) -> str | None:
    return "ok" if capture.outcome == "not_modified" else capture.outcome


def kind_of(capture: Capture, before: Capture | None) -> str:
    if capture.error_class:
        return "failed fetch"
    if before is not None and _health(before) != _health(capture):
        return "link health changed"
    if before is not None and capture.version_id != before.version_id:
        return "article changed"
    if before is None:
        return "first capture"
    if capture.status == 304:
        return "unchanged: 304"
    if capture.record_type == "revisit":
        return "unchanged: identical bytes"
    if capture.outcome != "ok":
        return "unchanged: same dead page"
    return "unchanged: churning page"


def report(name: str, home: Home) -> tuple[list[str], list[int]]:
    with session(home.engine) as db:
        rows = list(db.exec(select(Capture).order_by(col(Capture.source_id), col(Capture.id))).all())
    by_kind: dict[str, list[int]] = defaultdict(list)
    types: dict[str, Counter[str]] = defaultdict(Counter)
    previous: dict[int, Capture] = {}
    sizes_in_order = [(c.warc_length or 0) + (c.request_length or 0) for c in rows]
    for capture, size in zip(rows, sizes_in_order, strict=True):
        kind = kind_of(capture, previous.get(capture.source_id))
        previous[capture.source_id] = capture
        by_kind[kind].append(size)
        types[kind][capture.record_type or "row only"] += 1
    warc = sum(p.stat().st_size for p in home.settings.warc_dir.glob("*.warc.gz"))
    with home.engine.connect() as connection:  # fold the write-ahead log into the file first
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db_bytes = (home.settings.archive_dir / "monitor.db").stat().st_size
    lines = [f"\n{name}: {len(rows)} checks, WARC {warc / 1e6:.1f} MB = {warc / len(rows) / 1024:.1f} KB "
             f"per check (warcinfo and daily full copies included), database {db_bytes / len(rows):.0f} B "
             "per check",
             f"  {'what the check found':28s} {'checks':>7s} {'mean B':>8s} {'max B':>8s}  records"]
    for kind in sorted(by_kind):
        sizes = by_kind[kind]
        lines.append(f"  {kind:28s} {len(sizes):7d} {statistics.mean(sizes):8.0f} {max(sizes):8d}  "
                     + ", ".join(f"{n} {t}" for t, n in types[kind].most_common()))
    unchanged = [size for kind, sizes in by_kind.items() if kind.startswith("unchanged") for size in sizes]
    compact = [size for capture, size in zip(rows, sizes_in_order, strict=True)
               if capture.record_type != "response" and not capture.error_class]
    lines.append(f"  every unchanged check: mean {statistics.mean(unchanged):.0f} B (daily full copies "
                 f"included); compact records alone: mean {statistics.mean(compact or [0]):.0f} B, "
                 f"max {max(compact or [0])} B")
    return lines, compact


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=150)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=None, help="printed; pass it to replay a run")
    parser.add_argument("--page-kb", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="30 articles over 3 days")
    args = parser.parse_args(argv)
    if args.quick:
        args.articles, args.days = 30, 3
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    logging.getLogger("monitor").setLevel(logging.ERROR)
    for line in machine_lines():
        print(line)
    checks = 4 * args.days
    print(f"seed {seed}: {args.articles} articles ({args.page_kb} KB churning pages on {len(CHURNING)} "
          f"outlets, static pages with validators on one), checked every 6 h for {args.days} days")
    rng = random.Random(seed)
    started = time.monotonic()
    results: dict[str, tuple[list[str], list[int]]] = {}
    with NewsSite(outlets=[*CHURNING, STATIC], static_outlets=[STATIC], page_kb=args.page_kb,
                  log_limit=0) as site:
        urls = publish(site, args.articles, rng)
        dying = set(urls[::30])
        with scratch_home("archive-bench-", ENV) as policy, \
                scratch_home("archive-bench-every-", {**ENV, "MONITOR_ARCHIVE__KEEP": "every"}) as every:
            asyncio.run(run({"changes": policy, "every": every}, site, urls, checks, rng, dying))
            results = {"archive.keep = changes (default)": report("changes", policy),
                       "archive.keep = every": report("every", every)}
    for title, (lines, _) in results.items():
        print("\n".join([lines[0].replace("changes:", title + ":").replace("every:", title + ":"),
                         *lines[1:]]))
    _, compact = results["archive.keep = changes (default)"]
    mean, worst = statistics.mean(compact), max(compact)
    print(f"\ncompact record of an unchanged check (revisit or metadata), default policy: mean {mean:.0f} B, "
          f"max {worst} B (target {BUDGET} B)")
    print(f"{time.monotonic() - started:.0f} s in all")
    if mean > BUDGET or worst > BUDGET:
        print(f"FAILED: an unchanged check must cost at most {BUDGET} B of WARC", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
