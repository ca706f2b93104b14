"""Change detection over many passes: is every real edit caught and classified, and nothing else alerted?

    python benchmarks/changes.py [--quick] [--articles N] [--passes P] [--seed S] [--page-kb K]

Builds a scenario on the imitation news site (tests/site): N articles on six outlets, every
page padded to ``--page-kb`` KB (default 100) with a ``__NEXT_DATA__`` blob, and every page
churning on every request (nonce, CSRF token, clock line, "most read" rail, blob). Each story
has five to nine paragraphs, one holding figures ("... 300 million users, up 4.5% ...") and
one a quotation; about half open with a one-sentence lede paragraph, as wire copy does.
The real ``check_source`` runs one pass per day through ``run_pass``, in process, on a manual
clock, with the default settings (extraction in one process per core).

Before each pass after the first, ``--edit-share`` of the articles (default 0.1) get one
scripted edit through the site API, cycling over the classes: ``headline``, ``lede`` (the
first sentence rewritten), ``paragraphs_added`` (appended or inserted), ``paragraphs_removed``
(a middle paragraph dropped), ``sentences_edited`` (a clause of a middle sentence reworded),
``numbers`` (one figure changed), ``quotes`` (words inside a quotation changed),
``correction`` ("Correction: An earlier version of this article ..." appended), ``byline``,
``minor`` (one letter of a word, or a comma) and ``dates_only`` (the modified time bumped,
no text change). A third of the text edits are stealth edits (modified time unchanged).
Noise on top: the churn itself, a redesign (other template, same article) of two outlets
from the middle pass on, and flip-flop articles whose headline alternates A/B/A/B from some
pass on, as an A/B test does.

Scoring, from the Event table (an event belongs to the pass whose clock time it carries):

- an edit is detected when its source has a ``changed`` event in the pass of the edit, and
  classified correctly when that event's ``details["classification"]`` holds the class;
- ``dates_only`` edits must raise nothing: the version fingerprint leaves dates out
  (monitor/compare/normalize.py), so a page whose text, title and byline are unchanged is
  not a new version and raises no event at all, not even an ``info`` one. A ``changed``
  event for one counts as a false alert;
- a flip-flop article's first switch (A to B) is a real headline edit; every later switch
  returns to a version seen before and must give a ``flipflop`` record, not ``changed``:
  a ``changed`` event there is a false alert;
- false alerts: ``changed`` events of a source in a pass without a scripted edit of it
  (``dates_only`` aside); precision: true ``changed`` events over all of them.

Prints per class the edits, detected, classified correctly, the severities given and any
other classes reported; the noise; and the totals. Beside it, over the very same fetches
(the Capture rows), a naive page-diff monitor that alerts whenever the page bytes change.
Exits 1 if a target is missed: recall 1.0 on substantive edits (every class but ``minor``
and ``dates_only``), at most 1 false alert per 1,000 checks.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from monitor.schedule import PassSummary, run_pass  # noqa: E402
from monitor.store import session  # noqa: E402
from monitor.store.models import Capture, Event  # noqa: E402
from tests.site import NewsSite  # noqa: E402
from tests.site.pages import fake_paragraph, fake_sentence, fake_story  # noqa: E402

DAY = timedelta(days=1)
T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
OUTLETS = ("apnews", "reuters", "cnn", "guardian", "atlantic", "gazette")
CLASSES = ("headline", "lede", "paragraphs_added", "paragraphs_removed", "sentences_edited", "numbers",
           "quotes", "correction", "byline", "minor", "dates_only")
NOT_SUBSTANTIVE = ("minor", "dates_only")
FLIPFLOP = "flip-flop A→B"  # the first switch of a flip-flop article: a real headline edit
STEALTH_SHARE = 1 / 3
ENV = {  # what the run sets; every other setting keeps its default
    "MONITOR_ARCHIVE__FSYNC": "false",
    "MONITOR_IDENTITY__CONTACT_URL": "mailto:benchmark@example.org",
}

NAMES = ("Jane Doe", "Ana Ruiz", "Tom Okafor", "Mei Lin", "Sam Patel", "Olga Ivanova", "Luis Moreno",
         "Grace Kim", "Ben Carter", "Nora Haddad", "Ravi Shah", "Eva Novak")
TITLES = ("Mayor", "Councillor", "Senator", "Professor", "Chief executive", "Spokeswoman")
QUOTE_VERBS = ("will not accept", "cannot support", "fully back", "are still studying",
               "strongly oppose", "welcome", "have serious doubts about", "were never consulted on")
QUOTE_OBJECTS = ("this plan", "the proposal", "what the council decided", "these figures",
                 "the timetable", "a deal on these terms")
TAILS = ("officials confirmed on Tuesday", "two people familiar with the matter said",
         "according to a draft seen by this newspaper", "after a lengthy closed-door meeting",
         "a spokesperson said in an email", "following a review by independent auditors",
         "in a letter sent to members last week")
CORRECTIONS = (
    "Correction: An earlier version of this article misstated the date of the council vote.",
    "Correction: An earlier version of this article misidentified the agency that released "
    "the report.",
    "Correction: An earlier version of this article gave the wrong title for the spokesperson.",
    "Correction: An earlier version of this article misspelled the name of the chief executive.",
)
_SENTENCE_END = re.compile(r'(?<=\.)\s+(?=["A-Z])')
_FIGURE = re.compile(r"\d{1,3}(?:,\d{3})+\b|\d+(?:\.\d+)?")
_QUOTE = re.compile(r'"([^"]+)"')
_WORD = re.compile(r"\b[a-z]{6,}\b")


def figure_sentence(rng: random.Random) -> str:
    """A sentence with figures in it, for the ``numbers`` edits to change."""
    millions, share = rng.randint(12, 900), f"{rng.randint(1, 40)}.{rng.randint(1, 9)}"
    cost, jobs = f"{rng.randint(1, 9)}.{rng.randint(1, 9)}", rng.randint(120, 9_000)
    return rng.choice((
        f"The scheme would reach {millions} million users, up {share}% from last year.",
        f"Officials put the cost at ${cost} billion, with {jobs:,} jobs at stake.",
        f"About {jobs:,} residents signed the petition, or {share}% of the electorate.",
    ))


def quote_sentence(rng: random.Random) -> str:
    """A quoted passage, for the ``quotes`` edits to change."""
    who = f"{rng.choice(TITLES)} {rng.choice(NAMES)}"
    return f'"We {rng.choice(QUOTE_VERBS)} {rng.choice(QUOTE_OBJECTS)}," said {who}.'


def sentences(paragraph: str) -> list[str]:
    return _SENTENCE_END.split(paragraph)


@dataclass
class Article:
    url: str
    outlet: str
    source_id: int = 0
    flip_from: int | None = None  # flip-flop article: the pass of its first switch
    flip_headlines: tuple[str, str] = ("", "")


@dataclass
class Edit:
    article: Article
    number: int  # the pass it was made before
    cls: str  # a class of CLASSES, or FLIPFLOP
    stealth: bool
    before: str  # the text it changed (for the report of misses)
    after: str


@dataclass
class Scenario:
    site: NewsSite
    articles: list[Article]
    rng: random.Random
    edit_share: float
    edits: list[Edit] = field(default_factory=list)
    flips: list[tuple[Article, int]] = field(default_factory=list)  # switches after the first
    redesigned: dict[str, int] = field(default_factory=dict)  # outlet -> from pass
    cycle: int = 0


# ------------------------------------------------------------------ scenario


def build(site: NewsSite, total: int, passes: int, rng: random.Random, edit_share: float) -> Scenario:
    articles = []
    for n in range(total):
        headline, paragraphs = fake_story(rng)
        while len(paragraphs) < 5:
            paragraphs.append(fake_paragraph(rng))
        if rng.random() < 0.5:  # wire style: a one-sentence lede paragraph
            paragraphs.insert(0, fake_sentence(rng))
        middle = list(range(1, len(paragraphs) - 1))
        with_figures, with_quote = rng.sample(middle, 2)
        paragraphs[with_figures] += " " + figure_sentence(rng)
        paragraphs[with_quote] = quote_sentence(rng) + " " + paragraphs[with_quote]
        outlet = OUTLETS[n % len(OUTLETS)]
        url = site.add_article(outlet, f"story-{n}-{rng.randrange(10**6)}", headline=headline,
                               byline=f"By {rng.choice(NAMES)}", paragraphs=paragraphs,
                               published=T0 - DAY)
        articles.append(Article(url, outlet))
    for article in rng.sample(articles, max(3, total // 50)):
        article.flip_from = rng.randint(1, max(1, passes - 4))
        first = site.article(article.url).headline
        article.flip_headlines = (first, _new_headline(rng, first))
    scenario = Scenario(site, articles, rng, edit_share)
    for outlet in rng.sample(OUTLETS, 2):
        scenario.redesigned[outlet] = passes // 2
    return scenario


def _new_headline(rng: random.Random, old: str) -> str:
    while True:
        headline, _ = fake_story(rng)
        if headline != old:
            return headline


def prepare(scenario: Scenario, number: int, now: datetime) -> None:
    """Before pass ``number``: redesigns, flip-flops, then the scripted edits."""
    site, rng = scenario.site, scenario.rng
    for outlet, start in scenario.redesigned.items():
        if start == number:
            site.redesign(outlet)
    edited: set[str] = set()
    for article in scenario.articles:
        if article.flip_from is None or number < article.flip_from:
            continue
        a, b = article.flip_headlines
        step = number - article.flip_from
        site.edit(article.url, headline=b if step % 2 == 0 else a, stealth=True)
        if step == 0:
            scenario.edits.append(Edit(article, number, FLIPFLOP, True, a, b))
        else:
            scenario.flips.append((article, number))
        edited.add(article.url)
    pool = [a for a in scenario.articles if a.flip_from is None]
    for _ in range(round(scenario.edit_share * len(pool))):
        cls = CLASSES[scenario.cycle % len(CLASSES)]
        scenario.cycle += 1
        for article in rng.sample(pool, len(pool)):
            if article.url in edited:
                continue
            stealth = cls != "dates_only" and rng.random() < STEALTH_SHARE
            edit = apply(site, article, cls, rng, now, stealth)
            if edit is not None:
                edit.number = number
                scenario.edits.append(edit)
                edited.add(article.url)
                break


def apply(site: NewsSite, article: Article, cls: str, rng: random.Random, now: datetime,
          stealth: bool) -> Edit | None:
    """Make an edit of class ``cls`` to the article through the site API (None: not possible)."""
    art = site.article(article.url)
    paragraphs = list(art.paragraphs)
    headline = byline = None
    change = _change(cls, paragraphs, art.headline, art.byline, rng)
    if change is None:
        return None
    before, after = change
    if cls == "headline":
        headline = after
    elif cls == "byline":
        byline = after
    site.edit(article.url, headline=headline, byline=byline,
              paragraphs=None if cls in ("headline", "byline", "dates_only") else paragraphs,
              modified=now, stealth=stealth)
    return Edit(article, 0, cls, stealth, before, after)


def _change(cls: str, paragraphs: list[str], headline: str, byline: str,
            rng: random.Random) -> tuple[str, str] | None:
    """Edit ``paragraphs`` in place (or pick a new headline/byline); return (before, after)."""
    known = {s for p in paragraphs for s in sentences(p)}
    middle = list(range(1, len(paragraphs) - 1))
    if cls == "headline":
        return headline, _new_headline(rng, headline)
    if cls == "byline":
        name = rng.choice([n for n in NAMES if n not in byline])
        return byline, f"By {name}"
    if cls == "dates_only":
        return "", ""
    if cls == "lede":
        first = sentences(paragraphs[0])
        new = _fresh_sentence(rng, known)
        before, first[0] = first[0], new
        paragraphs[0] = " ".join(first)
        return before, new
    if cls == "paragraphs_added":
        new = " ".join(_fresh_sentence(rng, known) for _ in range(rng.randint(2, 3)))
        paragraphs.insert(rng.randint(1, len(paragraphs)), new)
        return "", new
    if cls == "paragraphs_removed":
        if len(paragraphs) < 5:
            return None
        return paragraphs.pop(rng.choice(middle)), ""
    if cls == "correction":
        notes = [c for c in CORRECTIONS if c not in paragraphs]
        if not notes:
            return None
        paragraphs.append(rng.choice(notes))
        return "", paragraphs[-1]
    spots = [(i, j, s) for i in range(len(paragraphs)) for j, s in enumerate(sentences(paragraphs[i]))]
    rng.shuffle(spots)
    for i, j, sentence in spots:
        new = _sentence_change(cls, sentence, i in middle, rng)
        if new is not None and new not in known:
            parts = sentences(paragraphs[i])
            parts[j] = new
            paragraphs[i] = " ".join(parts)
            return sentence, new
    return None


def _sentence_change(cls: str, sentence: str, in_middle: bool, rng: random.Random) -> str | None:
    """The sentence after an edit of class ``cls``, or None if it does not suit that edit."""
    quote, figures = _QUOTE.search(sentence), list(_FIGURE.finditer(sentence))
    if cls == "numbers" and figures:
        figure = rng.choice(figures)
        old = figure.group(0)
        new = old
        while new == old:
            value = int(old.replace(",", "")) if "." not in old else 0
            new = (f"{rng.randint(1, 40)}.{rng.randint(1, 9)}" if "." in old
                   else f"{value + rng.choice((-1, 1)) * rng.randint(1, max(1, value // 4)):,}")
        return sentence[:figure.start()] + new + sentence[figure.end():]
    if cls == "quotes" and quote:
        words = quote.group(1)
        verb = next((v for v in QUOTE_VERBS if words.startswith(f"We {v} ")), None)
        if verb is None:
            return None
        other = rng.choice([v for v in QUOTE_VERBS if v != verb])
        return sentence.replace(f'"We {verb} ', f'"We {other} ', 1)
    if quote or figures:
        return None
    if cls == "sentences_edited" and in_middle and ", " in sentence:
        head, tail = sentence.rsplit(", ", 1)
        return f"{head}, {rng.choice([t for t in TAILS if t not in tail])}."
    if cls == "minor":
        if ", " in sentence and rng.random() < 0.5:
            return sentence.replace(", ", " ", 1)  # a comma dropped
        words = list(_WORD.finditer(sentence))
        if not words:
            return None
        word = rng.choice(words)
        k = rng.randrange(1, len(word.group(0)) - 1)
        letter = rng.choice([c for c in "aeioulnrst" if c != word.group(0)[k]])
        return sentence[:word.start() + k] + letter + sentence[word.start() + k + 1:]
    return None


def _fresh_sentence(rng: random.Random, known: set[str]) -> str:
    while True:
        sentence = fake_sentence(rng)
        if sentence not in known:
            known.add(sentence)
            return sentence


# ------------------------------------------------------------------ running


async def run_passes(home: Home, scenario: Scenario, passes: int, clock: ManualClock) -> list[PassSummary]:
    site = scenario.site
    fetcher = Fetcher(home.settings.fetch, home.settings.identity.user_agent(), clock,
                      transport=site.transport())
    summaries: list[PassSummary] = []
    async with home.check_context(clock, fetcher=fetcher, rng=random.Random(1)) as ctx:
        ids = [a.source_id for a in scenario.articles]
        for number in range(passes):
            clock.set(T0 + number * DAY)
            if number:
                prepare(scenario, number, clock.now())
            summary = await run_pass(ctx, ids)
            summaries.append(summary)
            edits = sum(1 for e in scenario.edits if e.number == number)
            note = [f"{edits} edits"] if number else []
            note += [f"redesign of {o}" for o, start in scenario.redesigned.items() if start == number]
            print(f"  pass {number:2d}: {summary.line()}" + (f"  <- {', '.join(note)}" if note else ""),
                  flush=True)
    return summaries


# ------------------------------------------------------------------ scoring


@dataclass
class Score:
    lines: list[str]
    substantive: int = 0
    caught: int = 0
    false_alerts: int = 0
    checks: int = 0


def _pass_of(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return round((at - T0) / DAY)


def score(home: Home, scenario: Scenario) -> Score:
    with session(home.engine) as db:
        events = list(db.exec(select(Event).order_by(col(Event.at))).all())
        captures = list(db.exec(select(Capture).order_by(col(Capture.id))).all())
    changed: dict[tuple[int | None, int], Event] = {}
    by_key: defaultdict[tuple[int | None, int], list[Event]] = defaultdict(list)
    for event in events:
        key = (event.source_id, _pass_of(event.at))
        by_key[key].append(event)
        if event.kind == "changed":
            changed[key] = event
    edits = {(e.article.source_id, e.number): e for e in scenario.edits}
    out = Score([], checks=len(captures))
    out.lines.append(f"{'class':<20} {'edits':>5} {'stealth':>7} {'detected':>8} {'classified':>10}  "
                     f"{'severity':<24} other classes reported")
    misses: list[str] = []
    for cls in (*CLASSES, FLIPFLOP):
        group = [e for e in scenario.edits if e.cls == cls]
        if not group:
            continue
        expected = "headline" if cls == FLIPFLOP else cls
        hits = [(e, changed.get((e.article.source_id, e.number))) for e in group]
        found = [(e, ev) for e, ev in hits if ev is not None]
        right = [(e, ev) for e, ev in found if expected in ev.details.get("classification", [])]
        severities = Counter(ev.severity for _, ev in found)
        extra = Counter(c for _, ev in found for c in ev.details.get("classification", [])
                        if c not in (expected, "dates"))
        if cls == "dates_only":
            quiet = sum(1 for e in group if not by_key.get((e.article.source_id, e.number)))
            out.lines.append(f"{cls:<20} {len(group):>5} {'-':>7} {len(found):>8} {'-':>10}  "
                             f"{'-':<24} {quiet}/{len(group)} raised no event at all (expected)")
        else:
            stealth = sum(e.stealth for e in group)
            shown = ", ".join(f"{s} {n}" for s, n in sorted(severities.items()))
            others = ", ".join(f"{c} {n}" for c, n in extra.most_common()) or "-"
            out.lines.append(f"{cls:<20} {len(group):>5} {stealth:>7} {len(found):>8} {len(right):>10}  "
                             f"{shown:<24} {others}")
        if cls not in NOT_SUBSTANTIVE:
            out.substantive += len(group)
            out.caught += len(found)
        if cls != "dates_only":
            for e, ev in hits:
                if ev is None or expected not in ev.details.get("classification", []):
                    misses.append(_miss(e, ev, by_key.get((e.article.source_id, e.number), [])))
    true_alerts = sum(1 for key in changed if key in edits and edits[key].cls != "dates_only")
    false_keys = [key for key in changed if key not in edits or edits[key].cls == "dates_only"]
    out.false_alerts = len(false_keys)
    flip_keys = {(a.source_id, n) for a, n in scenario.flips}
    by_outlet = {a.source_id: a.outlet for a in scenario.articles}
    redesign_keys = {key for key in false_keys
                     if scenario.redesigned.get(by_outlet.get(key[0] or 0, ""), 10**9) == key[1]}
    causes = Counter("flip-flop return" if key in flip_keys else "dates_only edit"
                     if key in edits else "redesign pass" if key in redesign_keys else "churn only"
                     for key in false_keys)
    flip_events = Counter(ev.kind for key in flip_keys for ev in by_key.get(key, []))
    redesign_checks = sum(1 for c in captures if scenario.redesigned.get(by_outlet[c.source_id], -1)
                          == _pass_of(c.at))
    kinds = Counter(e.kind for e in events)
    alerts = true_alerts + out.false_alerts
    substantive_right = sum(
        1 for e in scenario.edits if e.cls not in NOT_SUBSTANTIVE
        and ("headline" if e.cls == FLIPFLOP else e.cls)
        in getattr(changed.get((e.article.source_id, e.number)), "details", {}).get("classification", []))
    stealth = [e for e in scenario.edits if e.stealth and e.cls not in NOT_SUBSTANTIVE]
    stealth_caught = sum(1 for e in stealth if (e.article.source_id, e.number) in changed)
    out.lines += [
        "",
        f"stealth edits (modified time unchanged): {stealth_caught}/{len(stealth)} substantive ones "
        "detected",
        f"flip-flops: {len({a.url for a, _ in scenario.flips})} articles, {len(flip_keys)} returns to a "
        f"version seen before: {dict(flip_events) or 'no events'}",
        f"redesign of {', '.join(scenario.redesigned)} from pass {min(scenario.redesigned.values())}: "
        f"{redesign_checks} checks of their articles in that pass, "
        f"{causes['redesign pass']} false changed",
        f"events: {dict(sorted(kinds.items()))}",
        f"false alerts by cause: {dict(causes) or 'none'}",
        "",
        f"recall on substantive edits: {out.caught}/{out.substantive} = "
        f"{out.caught / max(out.substantive, 1):.3f}; classified correctly: {substantive_right}/"
        f"{out.substantive} = {substantive_right / max(out.substantive, 1):.3f}",
        f"false alerts: {out.false_alerts} in {out.checks} checks = "
        f"{1000 * out.false_alerts / max(out.checks, 1):.2f} per 1,000 checks; precision "
        f"{true_alerts / max(alerts, 1):.3f} ({true_alerts} of {alerts} changed events)",
        _naive_line(captures, scenario),
    ]
    if misses:
        out.lines += ["", f"missed or misclassified ({len(misses)}):", *misses[:30]]
    return out


def _miss(edit: Edit, event: Event | None, others: list[Event]) -> str:
    got = (f"changed {event.details.get('classification')} ({event.severity}): {event.summary!r}"
           if event is not None else f"no changed event (events: {[e.kind for e in others] or 'none'})")
    return (f"  {edit.cls}{' (stealth)' if edit.stealth else ''}, pass {edit.number}, "
            f"{edit.article.url}\n    before: {edit.before!r}\n    after:  {edit.after!r}\n    got:    {got}")


def _naive_line(captures: Sequence[Capture], scenario: Scenario) -> str:
    """A page-diff monitor: an alert whenever the page bytes differ from the last fetch."""
    last: dict[int, str | None] = {}
    alerts: set[tuple[int, int]] = set()
    for capture in captures:
        digest = capture.payload_digest
        if capture.source_id in last and digest != last[capture.source_id]:
            alerts.add((capture.source_id, _pass_of(capture.at)))
        last[capture.source_id] = digest
    real = {(e.article.source_id, e.number) for e in scenario.edits if e.cls != "dates_only"}
    substantive = [(e.article.source_id, e.number) for e in scenario.edits if e.cls not in NOT_SUBSTANTIVE]
    recall = sum(1 for key in substantive if key in alerts) / max(len(substantive), 1)
    false = len(alerts - real)
    checks = len(captures)
    return (f"naive page-diff monitor, same fetches: recall {recall:.3f}, {len(alerts)} alerts, "
            f"{false} false = {1000 * false / max(checks, 1):.0f} per 1,000 checks, precision "
            f"{len(alerts & real) / max(len(alerts), 1):.3f}")


# ------------------------------------------------------------------ main


def scenario_run(total: int, passes: int, seed: int, page_kb: int, edit_share: float) -> Score:
    rng = random.Random(seed)
    with scratch_home("changes-bench-", ENV) as home:
        with NewsSite(outlets=OUTLETS, page_kb=page_kb, log_limit=0) as site:
            scenario = build(site, total, passes, rng, edit_share)
            ids = watch(home, [a.url for a in scenario.articles], T0)
            for article, source_id in zip(scenario.articles, ids, strict=True):
                article.source_id = source_id
            started = time.monotonic()
            summaries = asyncio.run(run_passes(home, scenario, passes, ManualClock(T0)))
            elapsed = time.monotonic() - started
        result = score(home, scenario)
    in_passes = sum(s.seconds for s in summaries)
    result.lines.append(f"\n{result.checks} checks in {elapsed:.0f} s: {result.checks / elapsed:.1f} "
                        f"checks/s ({result.checks / max(in_passes, 1e-9):.1f} inside run_pass)")
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--passes", type=int, default=10, help="one pass per day")
    parser.add_argument("--seed", type=int, default=None, help="printed; pass it to replay a run")
    parser.add_argument("--page-kb", type=int, default=100, help="page size in KB (100)")
    parser.add_argument("--edit-share", type=float, default=0.1,
                        help="share of the articles edited before each pass after the first (0.1)")
    parser.add_argument("--quick", action="store_true", help="100 articles, 6 passes")
    args = parser.parse_args(argv)
    if args.quick:
        args.articles, args.passes = 100, 6
    if args.articles < 20 or args.passes < 3:
        parser.error("--articles must be at least 20 and --passes at least 3")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("monitor").setLevel(logging.ERROR)  # the scores below say it all
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    for line in machine_lines():
        print(line)
    print(f"seed {seed}: {args.articles} articles on {len(OUTLETS)} outlets, {args.page_kb} KB pages "
          f"churning on every request, {args.passes} daily passes, {args.edit_share:.0%} of the "
          "articles edited before each pass after the first")
    started = time.monotonic()
    result = scenario_run(args.articles, args.passes, seed, args.page_kb, args.edit_share)
    print("\n".join(["", *result.lines]))
    print(f"{time.monotonic() - started:.0f} s in all")
    failures = []
    if result.caught < result.substantive:
        failures.append(f"recall {result.caught}/{result.substantive} on substantive edits (target 1.0)")
    if 1000 * result.false_alerts / max(result.checks, 1) > 1:
        failures.append(f"{result.false_alerts} false alerts in {result.checks} checks "
                        "(target <= 1 per 1,000)")
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
