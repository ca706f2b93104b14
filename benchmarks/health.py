"""Link health over many passes: is every death caught, and nothing else called dead?

    python benchmarks/health.py [--quick] [--articles N] [--passes P] [--seed S]

Builds a scenario on the imitation news site (tests/site): N articles on six outlets
(one answering 200 for any path), plus three outlets that die as hosts (a DNS name
that stops resolving, a certificate that breaks, a server that refuses connections).
Every article gets one fate, death or hiccup, at a random day; one pass in the middle
is a full network outage. The real ``check_source`` runs one pass per day on a manual
clock with the default confirmation policy (3 failed checks spanning >= 3 days; 410:
2 over >= 1 day), through ``run_pass`` exactly as the daemon does.

Prints, per kind of death, the recall (sources that reached ``dead``) and the days it
took; per kind of hiccup, the false ``dead`` and ``failing`` events and whether the
expected event (``blocked``, ``moved``, ``changed``, ``recovered``) came; the events of
the outage pass. Beside it, in the same run and over the very same fetches, a naive
status-code monitor (alarm on any 4xx/5xx or network error, as most monitors do).
A second, small scenario (two hosts: too few for the offline guard to vote) checks the
DESIGN.md rule for small monitors. Exits 1 if a target is missed: recall 1.0 for every
kind, no false ``dead``, only the ``offline`` event in the outage pass.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlmodel import col, select  # noqa: E402

from benchmarks.common import machine_lines, scratch_home, watch  # noqa: E402
from monitor.clock import ManualClock  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.home import Home  # noqa: E402
from monitor.schedule import PassSummary, run_pass  # noqa: E402
from monitor.store import session  # noqa: E402
from monitor.store.models import Capture, Event  # noqa: E402
from tests.site import NewsSite  # noqa: E402
from tests.site.pages import fake_paragraph, fake_story  # noqa: E402

DAY = timedelta(days=1)
T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
ARTICLE_OUTLETS = ("apnews", "reuters", "cnn", "guardian", "atlantic", "gazette")
SOFT_HOST = "gazette"  # answers 200 with a generic page for any unknown path
HOST_DEATHS = {"dns": "dnsnews", "tls": "securepost", "refused": "closing"}
PER_DYING_HOST = 6

# fate -> what is expected: "dead", or the event kind a healthy fate should raise (or None)
DEATHS = ("404", "410", "soft404_says_so", "soft404_generic", "to_homepage", "to_section",
          "to_search", "to_error_page", "drift", "drift_by_301", *HOST_DEATHS)
HICCUPS: dict[str, str | None] = {
    "alive": None, "edited": "changed", "503_burst": None, "429_retry_after": None,
    "timeout_clears": None, "reset_clears": None, "404_for_a_day": "recovered",
    "wall_403": "blocked", "wall_401": "blocked", "wall_451": "blocked", "bot_check_200": "blocked",
    "moved_301": "moved", "moved_308": "moved", "alive_on_soft_host": None,
}
ENV = {  # what the run sets; every other setting keeps its default
    "MONITOR_ARCHIVE__FSYNC": "false",
    "MONITOR_FETCH__TIMEOUT": "2s",
    "MONITOR_FETCH__CONNECT_TIMEOUT": "2s",
    "MONITOR_EXTRACT__WORKERS": "1",
    "MONITOR_IDENTITY__CONTACT_URL": "mailto:benchmark@example.org",
}


@dataclass
class Article:
    url: str
    outlet: str
    fate: str
    day: int  # the pass before which the fate strikes
    source_id: int = 0
    struck_at: datetime | None = None


@dataclass
class Scenario:
    site: NewsSite
    articles: list[Article]
    rng: random.Random
    undo: dict[int, list[Callable[[], None]]] = field(default_factory=lambda: defaultdict(list))


# ------------------------------------------------------------------ scenario


def build(site: NewsSite, total: int, passes: int, outage_day: int, rng: random.Random) -> Scenario:
    """Publish the articles and give each its fate; deaths strike early enough to be confirmed."""
    fates = [f for f in (*DEATHS, *HICCUPS) if f not in HOST_DEATHS]
    per_host = PER_DYING_HOST * len(HOST_DEATHS)
    articles: list[Article] = []
    for n in range(max(total - per_host, len(fates))):
        fate = fates[n] if n < len(fates) else rng.choice([*fates, "alive", "alive", "edited"])
        outlet = SOFT_HOST if fate in ("soft404_generic", "alive_on_soft_host") else rng.choice(
            [o for o in ARTICLE_OUTLETS if o != SOFT_HOST])
        articles.append(_publish(site, outlet, fate, passes, outage_day, rng, n))
    for fate, outlet in HOST_DEATHS.items():
        day = rng.randint(1, 3)
        for n in range(PER_DYING_HOST):
            article = _publish(site, outlet, fate, passes, outage_day, rng, n)
            article.day = day
            articles.append(article)
    return Scenario(site, articles, rng)


def _publish(site: NewsSite, outlet: str, fate: str, passes: int, outage_day: int,
             rng: random.Random, n: int) -> Article:
    headline, paragraphs = fake_story(rng)
    url = site.add_article(outlet, f"{fate.replace('_', '-')}-{n}-{rng.randrange(10**6)}",
                           headline=headline, paragraphs=paragraphs, published=T0 - DAY)
    latest = 3 if fate in DEATHS else passes - 3  # deaths need three more days to be confirmed
    day = rng.choice([d for d in range(1, latest + 1) if d != outage_day])
    return Article(url, outlet, fate, day)


def strike(scenario: Scenario, article: Article, day: int, now: datetime) -> None:
    """Apply the article's fate through the site's API (and schedule any undo)."""
    site, rng, url, fate = scenario.site, scenario.rng, article.url, article.fate
    article.struck_at = now
    simple: dict[str, Callable[[], None]] = {
        "404": lambda: site.set_status(url, 404), "410": lambda: site.set_status(url, 410),
        "soft404_says_so": lambda: site.soft404(url),
        "soft404_generic": lambda: site.soft404(url, generic=True),
        "to_homepage": lambda: site.redirect_home(url),
        "to_section": lambda: site.redirect_section(url),
        "to_search": lambda: site.redirect_search(url),
        "to_error_page": lambda: site.redirect_to_404_page(url),
        "wall_403": lambda: site.block(url, 403), "wall_401": lambda: site.block(url, 401),
        "wall_451": lambda: site.block(url, 451), "bot_check_200": lambda: site.block(url, 200),
        "503_burst": lambda: site.flaky(url, [503, 503], retry_after=600),
        "429_retry_after": lambda: site.flaky(url, [429], retry_after=3600),
        "reset_clears": lambda: site.drop(url, 1),
        "edited": lambda: site.edit(url, append=fake_paragraph(rng)),
    }
    if fate in simple:
        simple[fate]()
    elif fate == "drift":
        headline, paragraphs = unrelated_story(rng)
        site.replace(url, headline, paragraphs)
    elif fate == "drift_by_301":
        headline, paragraphs = unrelated_story(rng)
        other = site.add_article(article.outlet, f"other-{rng.randrange(10**9)}", headline=headline,
                                 paragraphs=paragraphs)
        site.redirect(url, other, 301)
    elif fate in ("moved_301", "moved_308"):
        art = site.article(url)
        new = site.add_article(article.outlet, f"{art.slug}-updated", headline=art.headline,
                               byline=art.byline, published=art.published, paragraphs=art.paragraphs)
        site.redirect(url, new, 301 if fate == "moved_301" else 308)
    elif fate == "timeout_clears":
        site.hang(url, 5)
        scenario.undo[day + 1].append(lambda: site.restore(url))
    elif fate == "404_for_a_day":
        site.set_status(url, 404)
        scenario.undo[day + 1].append(lambda: site.restore(url))


def unrelated_story(rng: random.Random) -> tuple[str, list[str]]:
    """Another story on another subject: what a recycled URL serves."""
    team, rival = rng.sample(["Rovers", "United", "Athletic", "Wanderers", "City", "Harriers"], 2)
    goals = rng.randint(2, 5)
    headline = f"{team} beat {rival} {goals}-1 to reach the cup final"
    paragraphs = [
        f"{team} scored {goals} times in the second half to overturn an early deficit against "
        f"{rival} on Saturday evening, sending their supporters into raptures.",
        "The striker, signed in the summer for a club-record fee, finished two chances from close "
        "range before a late header sealed the win in front of a sell-out crowd.",
        f"{rival}'s manager said his players had run out of energy after a congested month of "
        "fixtures and would need to regroup quickly before the league resumes.",
        "Tickets for the final go on general sale next week, with the stadium expected to be "
        "full for the first time since its roof was replaced.",
    ]
    return headline, paragraphs


# ------------------------------------------------------------------ running


async def run_days(home: Home, scenario: Scenario, passes: int, outage_day: int,
                   clock: ManualClock) -> tuple[list[PassSummary], tuple[datetime, datetime]]:
    site = scenario.site
    fetcher = Fetcher(home.settings.fetch, home.settings.identity.user_agent(), clock,
                      transport=site.transport())
    summaries: list[PassSummary] = []
    outage_window = (T0, T0)
    async with home.check_context(clock, fetcher=fetcher, rng=random.Random(1)) as ctx:
        ids = [a.source_id for a in scenario.articles]
        for day in range(passes):
            clock.set(T0 + day * DAY)
            for undo in scenario.undo.pop(day, []):
                undo()
            for article in scenario.articles:
                if article.day == day and article.fate not in HOST_DEATHS:
                    strike(scenario, article, day, clock.now())
            _host_deaths(scenario, day, clock.now())
            if day == outage_day:
                site.outage(True)
            started = clock.now()
            summary = await run_pass(ctx, ids)
            if day == outage_day:
                site.outage(False)
                _host_deaths(scenario, day, clock.now(), again=True)
                outage_window = (started, clock.now() + timedelta(hours=1))
            summaries.append(summary)
            print(f"  day {day:2d}: {summary.line()}" + ("  <- network outage" if day == outage_day
                                                          else ""), flush=True)
    return summaries, outage_window


def _host_deaths(scenario: Scenario, day: int, now: datetime, again: bool = False) -> None:
    site = scenario.site
    for fate, outlet in HOST_DEATHS.items():
        victims = [a for a in scenario.articles if a.fate == fate]
        if not victims or victims[0].day > day or (victims[0].day < day and not again):
            continue
        for article in victims:
            article.struck_at = article.struck_at or now
        if fate == "dns":
            site.dns_fail(outlet)
        elif fate == "tls":
            site.tls_break(outlet)
        else:
            site.outage(True, outlet)


# ------------------------------------------------------------------ scoring


@dataclass
class Score:
    lines: list[str]
    missed: int = 0
    false_dead: int = 0
    outage_events: int = 0


def score(home: Home, articles: Sequence[Article], window: tuple[datetime, datetime]) -> Score:
    with session(home.engine) as db:
        events = list(db.exec(select(Event).order_by(col(Event.at))).all())
        captures = list(db.exec(select(Capture)).all())
    by_source: defaultdict[int | None, list[Event]] = defaultdict(list)
    for event in events:
        by_source[event.source_id].append(event)
    naive = _naive_alarms(captures, articles, window)
    out = Score([])
    out.lines.append(f"{'death kind':<18} {'sources':>7} {'recall':>7} {'days to dead':>13} "
                     f"{'naive recall':>13}")
    for fate in DEATHS:
        group = [a for a in articles if a.fate == fate]
        if not group:
            continue
        dead = [a for a in group if any(e.kind == "dead" for e in by_source[a.source_id])]
        days = [(_first(by_source[a.source_id], "dead") - a.struck_at).days  # type: ignore[operator]
                for a in dead]
        caught = sum(1 for a in group if naive[a.source_id])
        out.missed += len(group) - len(dead)
        span = f"{min(days)}-{max(days)}" if days else "-"
        out.lines.append(f"{fate:<18} {len(group):>7} {len(dead) / len(group):>7.2f} {span:>13} "
                         f"{caught / len(group):>13.2f}")
    out.lines.append("")
    out.lines.append(f"{'not a death':<18} {'sources':>7} {'false dead':>10} {'failing':>8} "
                     f"{'expected event':>20} {'naive alarms':>13}")
    for fate, expected in HICCUPS.items():
        group = [a for a in articles if a.fate == fate]
        if not group:
            continue
        kinds = [Counter(e.kind for e in by_source[a.source_id]) for a in group]
        false_dead = sum(k["dead"] for k in kinds)
        failing = sum(k["failing"] for k in kinds)
        got = sum(1 for k in kinds if expected and k[expected])
        out.false_dead += false_dead
        shown = f"{expected} {got}/{len(group)}" if expected else "-"
        out.lines.append(f"{fate:<18} {len(group):>7} {false_dead:>10} {failing:>8} {shown:>20} "
                         f"{sum(naive[a.source_id] for a in group):>13}")
        if expected and got < len(group):
            out.missed += len(group) - got
    start, end = window
    in_outage = [e for e in events if start <= e.at <= end]
    out.outage_events = sum(1 for e in in_outage if e.kind != "offline")
    naive_outage = sum(1 for c in captures if start <= c.at <= end and _naive_alarm(c))
    out.lines.append("")
    out.lines.append(f"outage pass: {Counter(e.kind for e in in_outage)} "
                     f"(naive monitor: {naive_outage} alarms)")
    total_naive = sum(naive.values()) + naive_outage
    healthy = {a.source_id for a in articles if a.fate in HICCUPS}
    naive_false = sum(n for sid, n in naive.items() if sid in healthy) + naive_outage
    out.lines.append(f"false dead events: {out.false_dead}; naive monitor: {total_naive} alarms, "
                     f"{naive_false} of them on healthy links or in the outage")
    return out


def _first(events: list[Event], kind: str) -> datetime:
    return next(e.at for e in events if e.kind == kind)


def _naive_alarm(capture: Capture) -> bool:
    return capture.error_class is not None or (capture.status or 0) >= 400


def _naive_alarms(captures: Sequence[Capture], articles: Sequence[Article],
                  window: tuple[datetime, datetime]) -> dict[int, int]:
    """Alarms a status-code monitor raises per source, outside the outage pass."""
    counts = {a.source_id: 0 for a in articles}
    for capture in captures:
        if not window[0] <= capture.at <= window[1] and _naive_alarm(capture):
            counts[capture.source_id] = counts.get(capture.source_id, 0) + 1
    return counts


# ------------------------------------------------------------------ main


def scenario_run(total: int, passes: int, seed: int, small: bool = False) -> Score:
    rng = random.Random(seed)
    outage_day = passes // 2
    options: dict[str, Any] = {"outlets": ("apnews", "cnn")} if small else {
        "outlets": (*ARTICLE_OUTLETS, *HOST_DEATHS.values()), "static_outlets": ["reuters"],
        "soft404_outlets": [SOFT_HOST], "named_outlets": ["dnsnews"], "tls_outlets": ["securepost"]}
    with scratch_home("health-bench-", ENV) as home, NewsSite(**options, log_limit=0) as site:
        if small:
            scenario = _small_scenario(site, total, passes, outage_day, rng)
        else:
            scenario = build(site, total, passes, outage_day, rng)
        ids = watch(home, [a.url for a in scenario.articles], T0)
        for article, source_id in zip(scenario.articles, ids, strict=True):
            article.source_id = source_id
        _, window = asyncio.run(run_days(home, scenario, passes, outage_day, ManualClock(T0)))
        return score(home, scenario.articles, window)


def _small_scenario(site: NewsSite, total: int, passes: int, outage_day: int,
                    rng: random.Random) -> Scenario:
    """Two hosts: the offline guard cannot vote; the confirmation window must hold."""
    fates = ["404", "410", "to_homepage", "drift", "alive", "edited", "wall_403", "404_for_a_day"]
    articles = []
    for n in range(total):
        fate = fates[n % len(fates)]
        articles.append(_publish(site, ("apnews", "cnn")[n % 2], fate, passes, outage_day, rng, n))
    return Scenario(site, articles, rng)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--passes", type=int, default=12, help="one pass per day")
    parser.add_argument("--seed", type=int, default=None, help="printed; pass it to replay a run")
    parser.add_argument("--quick", action="store_true", help="100 articles, 10 passes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("monitor").setLevel(logging.ERROR)  # the scores below say it all
    total, passes = (100, 10) if args.quick else (args.articles, args.passes)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    for line in machine_lines():
        print(line)
    print(f"seed {seed}: {total} articles, {passes} daily passes, outage on day {passes // 2}, "
          "default policy (3 checks over >= 3 days; 410: 2 over >= 1 day)")
    started = time.monotonic()
    main_score = scenario_run(total, passes, seed)
    print("\n".join(["", *main_score.lines]))
    print(f"\nsmall monitor (2 hosts, offline guard cannot vote), seed {seed}:")
    small = scenario_run(24, passes, seed, small=True)
    print("\n".join(small.lines))
    print(f"\n{time.monotonic() - started:.0f} s in all")
    failures = []
    for name, result in (("main", main_score), ("small", small)):
        if result.missed:
            failures.append(f"{name}: {result.missed} deaths or expected events missed")
        if result.false_dead:
            failures.append(f"{name}: {result.false_dead} false dead events")
    if main_score.outage_events:
        failures.append(f"main: {main_score.outage_events} events in the outage pass besides offline")
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
