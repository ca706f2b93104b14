"""Change detection on real news pages: do the change rules hold outside the imitation site?

    python benchmarks/corpus_changes.py                   # all 181 pages (about 1.5 min on 2 cores)
    python benchmarks/corpus_changes.py --limit 20        # the first 20 pages
    python benchmarks/corpus_changes.py --seed 2 --corpus /path/to/article-extraction-benchmark

Reads the real article pages of the shared corpus (``html/<sha256>.html.gz`` and
``ground-truth.json``) in place. For each page the monitor's own ``extract_article``
extracts the original. Then scripted edits are made inside the real HTML (lxml), each
on a fresh copy of the page, and the edited page is extracted again. Every pair of
extractions goes the way ``monitor/versions.py`` takes a capture: no text, or less than
``extract.min_ratio`` of the last text, is an extraction failure; an equal fingerprint is
no new version; otherwise ``compare(before, after)`` classifies the change.

Body paragraphs are the ``<p>`` elements (and ``<div>`` elements without block children)
of at least 8 words whose text is a whole paragraph of the page's ground-truth
``articleBody``; copies of a paragraph elsewhere in the page (a caption, an AMP twin) are
edited alike, as a CMS would.
The edits and the class each must raise:

- ``figure``: one number in a body paragraph becomes n+1 (``numbers``);
- ``drop_paragraph``: one body paragraph, not the first, is removed (``paragraphs_removed``);
- ``add_paragraph``: a paragraph of prose is inserted after a body paragraph (``paragraphs_added``);
- ``correction``: a correction note is appended after the last body paragraph (``correction``);
- ``headline``: words are added to the ``<h1>`` and the ``<title>`` (``headline``);
- ``headline_everywhere``: the same words also in the meta titles (og:title …) and the
  JSON-LD headline, where a CMS writes them too (``headline``);
- ``quote``: one word inside a double-quoted passage of a body paragraph (``quotes``);
- ``typo``: one letter of a word of 8+ letters in a body paragraph (``minor``, severity minor);
- ``churn``: an ad ``<div>`` with a random token and a timestamp at the top of ``<body>``,
  and new ``<script>`` nonces (no change: "detected" is an equal fingerprint, so no new
  version; "classified" also needs ``compare().changed`` false).

A control row, the lxml round trip without any edit, must give no change either.
An edit that has nothing to work on (no number, no quote, no ``<h1>``) is n/a for that
page. Prints, per edit, the pages where it applied, how many the monitor reported as a
change (for churn: as no change) and how many it classified as expected; the extraction
time per page; skipped pages; and the misses, so someone can look at them. It measures
and exits 0; 2 if the corpus is missing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import re
import string
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

for _noisy in ("trafilatura", "htmldate", "dateparser", "courlan", "justext"):
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=rf"{_noisy}(\.|$)")

import lxml.html  # noqa: E402
from lxml.html import HtmlElement  # noqa: E402

from benchmarks.common import machine_lines  # noqa: E402
from monitor.compare import ArticleContent, compare, fingerprint, normalize  # noqa: E402
from monitor.compare.words import levenshtein  # noqa: E402
from monitor.extract import extract_article  # noqa: E402
from monitor.settings import ExtractSettings  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "article-extraction-benchmark"
MIN_RATIO: float = ExtractSettings.model_fields["min_ratio"].default
MIN_TEXT = 200  # shorter original extractions are skipped
MIN_WORDS = 8  # a body paragraph has at least this many words
MAX_MISSES = 30

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figure", "footer",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "ul",
})
CORRECTION = "Correction: An earlier version of this article misstated the date of the vote."
PROSE = (
    "Officials familiar with the discussions said a final decision was not expected before "
    "the end of the month. Several of them cautioned that the timetable could still slip.",
    "Critics of the plan have argued that it leaves too many questions unanswered. Its "
    "supporters say the details will be settled once the review is complete.",
    "The company did not respond to a request for comment on Tuesday. A spokeswoman had "
    "earlier described the talks as constructive and ongoing.",
)
HEADLINE_WORDS = (", officials say", " as talks resume", " amid new questions")
QUOTE_WORDS = ("unexpected", "remarkable", "uncertain", "difficult")
TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ")
META_TITLES = frozenset({  # <meta> names, properties and itemprops that carry the headline
    "og:title", "twitter:title", "title", "headline", "dc.title", "dcterms.title", "parsely-title",
    "sailthru.title", "fb_title", "citation_title",
})

_SQUASH = re.compile(r"\W+")
_FIGURE = re.compile(r"(?<![\w.,])\d+(?!\w)")
_LONG_WORD = re.compile(r"\b[A-Za-z]{8,}\b")
# straight quotes must open after a space and close before one, or a text node that starts
# inside a quotation would pair a closing mark with the next opening one
_QUOTE = re.compile(r"“([^“”]{8,}?)”|(?:^|(?<=[\s(\[]))\"(\S[^\"]{6,}?\S)\"(?!\w)")
_QUOTED_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
_JSON_HEADLINE = re.compile(r'("headline"\s*:\s*")((?:[^"\\]|\\.)*)"')


def squash(text: str) -> str:
    """Text reduced to lower-case word characters, to find a paragraph in another text."""
    return _SQUASH.sub("", normalize(text).lower())


# ------------------------------------------------------------------ the page


@dataclass(frozen=True)
class Page:
    sha: str
    url: str
    paragraphs: frozenset[str]  # the squashed paragraphs of the ground-truth articleBody
    title: str  # the originally extracted title


@dataclass(frozen=True)
class Target:
    """What an edit changed: the paragraph it touched (squashed) and a note for the misses list."""

    paragraph: str | None
    note: str


Paragraph = tuple[str, list[HtmlElement]]  # squashed text, the element and its copies


def body_paragraphs(doc: HtmlElement, truth: frozenset[str]) -> list[Paragraph]:
    """The article's paragraphs in reading order, each with its copies elsewhere in the page."""
    groups: dict[str, list[HtmlElement]] = {}
    for element in doc.iter("p", "div"):
        if element.tag == "div" and any(
            isinstance(d.tag, str) and d.tag in BLOCK_TAGS for d in element.iterdescendants()
        ):
            continue
        text = element.text_content()
        if len(text.split()) < MIN_WORDS:
            continue
        key = squash(text)
        if key in truth:  # a whole paragraph: a pull quote repeating one sentence is not
            groups.setdefault(key, []).append(element)
    return list(groups.items())


def text_slots(element: HtmlElement) -> Iterator[tuple[HtmlElement, str]]:
    """The text nodes inside ``element`` as (node, "text" or "tail"), in reading order."""
    if element.text:
        yield element, "text"
    for node in element.iterdescendants():
        if isinstance(node.tag, str) and node.tag not in ("script", "style") and node.text:
            yield node, "text"
        if node.tail:
            yield node, "tail"


Finder = Callable[[str, random.Random], list[tuple[int, int, str]]]  # a token's (start, end, new)


def token_pattern(token: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(token)}(?!\w)")


def replace_nth(element: HtmlElement, token: str, nth: int, new: str) -> bool:
    """Replace the ``nth`` occurrence of the word ``token`` in the text of ``element``."""
    seen = 0
    for node, attr in text_slots(element):
        text = getattr(node, attr)
        for match in token_pattern(token).finditer(text):
            if seen == nth:
                setattr(node, attr, text[: match.start()] + new + text[match.end() :])
                return True
            seen += 1
    return False


def edit_text(doc: HtmlElement, page: Page, rng: random.Random, find: Finder) -> Target | None:
    """Replace one word that ``find`` offers in a body paragraph, in every copy of the paragraph.

    A copy (a photo caption, an AMP twin) may split its text into other nodes, so the word is
    located by its rank among the same words of the paragraph, not by its node.
    """
    paragraphs = body_paragraphs(doc, page.paragraphs)
    candidates = [
        (p, s, start, end, new)
        for p, (_, elements) in enumerate(paragraphs)
        for s, (node, attr) in enumerate(text_slots(elements[0]))
        for start, end, new in find(getattr(node, attr), rng)
    ]
    if not candidates:
        return None
    p, s, start, end, new = rng.choice(candidates)
    key, elements = paragraphs[p]
    slots = [getattr(node, attr) for node, attr in text_slots(elements[0])]
    token = slots[s][start:end]
    pattern = token_pattern(token)
    nth = sum(len(pattern.findall(text)) for text in slots[:s]) + len(pattern.findall(slots[s][:start]))
    copies = sum(replace_nth(element, token, nth, new) for element in elements)
    return Target(key, f"{token!r} -> {new!r}" + (f" in {copies} copies" if copies > 1 else ""))


def find_figures(text: str, rng: random.Random) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), f"{int(m.group()) + 1:0{len(m.group())}d}") for m in _FIGURE.finditer(text)]


def find_typos(text: str, rng: random.Random) -> list[tuple[int, int, str]]:
    spans = []
    for m in _LONG_WORD.finditer(text):
        word = m.group()
        at = rng.randrange(1, len(word) - 1)  # never the first or last letter
        other = rng.choice([c for c in string.ascii_lowercase if c != word[at].lower()])
        spans.append((m.start(), m.end(), word[:at] + (other.upper() if word[at].isupper() else other)
                      + word[at + 1 :]))
    return spans


def find_quoted_words(text: str, rng: random.Random) -> list[tuple[int, int, str]]:
    spans = []
    for quote in _QUOTE.finditer(text):
        group = 1 if quote.group(1) is not None else 2
        for m in _QUOTED_WORD.finditer(quote.group(group)):
            word = m.group()
            choices = [w for w in QUOTE_WORDS if levenshtein(w, word.lower()) > 2]  # not a typo
            if not choices:
                continue
            new = rng.choice(choices)
            start = quote.start(group) + m.start()
            spans.append((start, start + len(word), new.capitalize() if word[0].isupper() else new))
    return spans


def insert_after(anchor: HtmlElement, tag: str, text: str, attrib: dict[str, str]) -> None:
    element = anchor.makeelement(tag, attrib)
    element.text = text
    anchor.addnext(element)


# ------------------------------------------------------------------ the edits


def edit_figure(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    return edit_text(doc, page, rng, find_figures)


def edit_typo(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    return edit_text(doc, page, rng, find_typos)


def edit_quote(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    return edit_text(doc, page, rng, find_quoted_words)


def edit_drop_paragraph(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    paragraphs = body_paragraphs(doc, page.paragraphs)[1:]
    if not paragraphs:
        return None
    key, elements = rng.choice(paragraphs)
    for element in elements:
        element.drop_tree()  # keeps the tail text
    return Target(key, f"dropped {elements[0].text_content().strip()[:50]!r}")


def edit_add_paragraph(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    paragraphs = body_paragraphs(doc, page.paragraphs)
    if not paragraphs:
        return None
    key, elements = rng.choice(paragraphs[:-1] or paragraphs)  # inside the story when possible
    prose = rng.choice(PROSE)
    for anchor in elements:
        css = anchor.get("class")
        insert_after(anchor, anchor.tag, prose, {"class": css} if css else {})
    return Target(key, f"after {elements[0].text_content().strip()[:50]!r}")


def edit_correction(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    paragraphs = body_paragraphs(doc, page.paragraphs)
    if not paragraphs:
        return None
    key, elements = paragraphs[-1]
    for anchor in elements:
        insert_after(anchor, "p", CORRECTION, {})
    return Target(key, f"after {elements[0].text_content().strip()[:50]!r}")


def with_words(title: str, headline: str, words: str) -> str:
    """``title`` with ``words`` after the headline in it, else before a site-name separator."""
    if headline and headline in title:
        at = title.index(headline) + len(headline)
    else:
        at = min((title.find(s) for s in TITLE_SEPARATORS if s in title), default=len(title.rstrip()))
    return title[:at] + words + title[at:]


def edit_h1_and_title(doc: HtmlElement, page: Page, words: str) -> list[str]:
    """Add ``words`` to the first non-empty ``<h1>`` and the ``<title>``; what was changed."""
    changed = []
    h1 = next((h for h in doc.iter("h1") if h.text_content().strip()), None)
    if h1 is not None:
        node, attr = [slot for slot in text_slots(h1) if getattr(slot[0], slot[1]).strip()][-1]
        text = getattr(node, attr)
        setattr(node, attr, text.rstrip() + words + text[len(text.rstrip()):])
        changed.append("h1")
    title = doc.find(".//title")
    if title is not None and title.text and title.text.strip():
        title.text = with_words(title.text, page.title, words)
        changed.append("title")
    return changed


def edit_headline(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    if not any(h.text_content().strip() for h in doc.iter("h1")):
        return None
    words = rng.choice(HEADLINE_WORDS)
    return Target(None, f"{words!r} in {'+'.join(edit_h1_and_title(doc, page, words))}")


def edit_headline_everywhere(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    words = rng.choice(HEADLINE_WORDS)
    changed = edit_h1_and_title(doc, page, words)
    for meta in doc.iter("meta"):
        name = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        content = meta.get("content")
        if content and content.strip() and name in META_TITLES:
            meta.set("content", with_words(content, page.title, words))
            changed.append(name)
    for script in doc.iter("script"):
        if (script.get("type") or "").lower() == "application/ld+json" and script.text:
            text, count = _JSON_HEADLINE.subn(lambda m: f'{m.group(1)}{m.group(2)}{words}"', script.text)
            if count:
                script.text = text
                changed.append("json-ld")
    return Target(None, f"{words!r} in {'+'.join(changed)}") if changed else None


def edit_churn(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    body = doc.find("body")
    if body is None:
        return None
    token = "".join(rng.choices("0123456789abcdef", k=16))
    stamp = datetime(2026, 11, 22, tzinfo=UTC) + timedelta(seconds=rng.randrange(86_400))
    ad = body.makeelement("div", {"class": "ad", "data-slot": "top"})
    ad.text = f"Advertisement · ref {token} · served {stamp:%Y-%m-%d %H:%M:%S} UTC"
    body.insert(0, ad)
    scripts = list(doc.iter("script"))
    with_nonce = [s for s in scripts if s.get("nonce")] or scripts
    nonce = "".join(rng.choices(string.ascii_letters + string.digits, k=22))
    for script in with_nonce:
        script.set("nonce", nonce)
    return Target(None, f"ad {token}, {len(with_nonce)} nonces")


def edit_nothing(doc: HtmlElement, page: Page, rng: random.Random) -> Target | None:
    return Target(None, "lxml round trip")


Edit = Callable[[HtmlElement, Page, random.Random], Target | None]
CONTROL = "control"
# name -> (the edit, the class it must raise; None: no change must be reported)
EDITS: dict[str, tuple[Edit, str | None]] = {
    "figure": (edit_figure, "numbers"),
    "drop_paragraph": (edit_drop_paragraph, "paragraphs_removed"),
    "add_paragraph": (edit_add_paragraph, "paragraphs_added"),
    "correction": (edit_correction, "correction"),
    "headline": (edit_headline, "headline"),
    "headline_everywhere": (edit_headline_everywhere, "headline"),
    "quote": (edit_quote, "quotes"),
    "typo": (edit_typo, "minor"),
    "churn": (edit_churn, None),
    CONTROL: (edit_nothing, None),
}


# ------------------------------------------------------------------ one page, in a worker


@dataclass
class Outcome:
    edit: str
    applied: bool
    detected: bool = False
    classified: bool = False
    reason: str = ""  # for a miss: what the monitor did instead, as a category
    detail: str = ""  # for a miss: what was edited and what came out


@dataclass
class PageResult:
    sha: str
    skipped: str | None = None
    seconds: float = 0.0  # extraction of the original
    outcomes: list[Outcome] = field(default_factory=list)


def judge(name: str, before: ArticleContent, after: ArticleContent | None, target: Target) -> Outcome:
    """What the monitor would record for ``after`` following ``before``, against what was expected."""
    expected = EDITS[name][1]
    miss = Outcome(name, applied=True, detail=target.note)
    if after is None:
        miss.reason = "extraction_failed: no text"
        return miss
    kept, had = len(normalize(after.text)), len(normalize(before.text))
    if kept < MIN_RATIO * had:
        miss.reason, miss.detail = "extraction_failed: collapsed", f"{target.note}; {kept} of {had} chars"
        return miss
    same = fingerprint(after) == fingerprint(before)
    comparison = compare(before, after)
    got = f"got {'+'.join(comparison.classes) or 'nothing'} ({comparison.severity})"
    if expected is None:  # detected: no new version; classified: compare() sees no change either
        quiet = same and not comparison.changed
        reason = "" if quiet else got if same else f"new version, {got}"
        return Outcome(name, True, same, quiet, reason, "" if quiet else target.note)
    if same:
        if target.paragraph is not None and target.paragraph not in squash(before.text):
            miss.reason = "edited paragraph not in the original extraction"
        elif target.paragraph is None:
            miss.reason = "extracted title unchanged"
            miss.detail = f"{target.note}; title {after.title[:60]!r}"
        else:
            miss.reason = "edit not in the extracted text"
        return miss
    detected = comparison.changed
    classified = detected and expected in comparison.classes
    if name == "typo":
        classified = classified and comparison.severity == "minor"
    edited = next((b for b in comparison.blocks if b.op != "equal"), None)
    if not classified and edited is not None:
        miss.detail += f"; first diff block {edited.op} {(edited.before or edited.after)[:80]!r}"
    return Outcome(name, True, detected, classified, "" if classified else got, miss.detail)


def warm_up() -> None:
    """Load trafilatura's lazy parts in a worker, so the first page's time is not the import's."""
    paragraph = "<p>" + "A sentence of a warm-up article that nobody reads. " * 10 + "</p>"
    extract_article(f"<html><body><article><h1>Warm-up</h1>{paragraph * 3}</article></body></html>".encode(),
                    "https://example.org/warm-up")


def run_page(task: tuple[str, str, str, Path, int]) -> PageResult:
    sha, url, body, path, seed = task
    result = PageResult(sha)
    try:
        html = gzip.decompress(path.read_bytes())
        started = time.perf_counter()
        before = extract_article(html, url)
        result.seconds = time.perf_counter() - started
        if before is None:
            result.skipped = "no article text extracted"
            return result
        if len(before.text) < MIN_TEXT:
            result.skipped = f"extracted text under {MIN_TEXT} characters"
            return result
        truth = frozenset(squash(line) for line in body.splitlines()) - {""}
        page = Page(sha, url, truth, before.title)
        source = html.decode("utf-8", errors="replace")  # every corpus page is UTF-8
        for name, (edit, _) in EDITS.items():
            doc = lxml.html.document_fromstring(source)
            target = edit(doc, page, random.Random(f"{seed}:{sha}:{name}"))
            if target is None:
                result.outcomes.append(Outcome(name, applied=False))
                continue
            edited = lxml.html.tostring(doc.getroottree(), encoding="unicode").encode("utf-8")
            result.outcomes.append(judge(name, before, extract_article(edited, url), target))
    except Exception as error:  # a broken page is reported, not fatal
        result.skipped = f"error: {type(error).__name__}: {error}"
    return result


# ------------------------------------------------------------------ the report


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


def rate(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "–"


def report(results: list[PageResult], wall: float, workers: int, max_misses: int) -> None:
    done = [r for r in results if r.skipped is None]
    print("| edit | expected | applied | n/a | detected | classified | detection | classification |")
    print("|---|---|---|---|---|---|---|---|")
    totals = Counter[str]()
    for name, (_, expected) in EDITS.items():
        outcomes = [o for r in done for o in r.outcomes if o.edit == name]
        applied = [o for o in outcomes if o.applied]
        detected = sum(o.detected for o in applied)
        classified = sum(o.classified for o in applied)
        label = expected or "no change"
        if name == "typo":
            label += ", severity minor"
        if name == CONTROL:
            name, label = "(control: round trip)", "no change"
        else:
            totals.update(applied=len(applied), detected=detected, classified=classified)
        print(f"| {name} | {label} | {len(applied)} | {len(outcomes) - len(applied)} | {detected} | "
              f"{classified} | {rate(detected, len(applied))} | {rate(classified, len(applied))} |")
    applied, detected, classified = totals["applied"], totals["detected"], totals["classified"]
    print(f"| total (edits) | | {applied} | | {detected} | {classified} | {rate(detected, applied)} | "
          f"{rate(classified, applied)} |")
    print()
    print("churn and control: detected = equal fingerprint (no new version, as versions.py decides); "
          "classified = and compare() reports no change either")
    times = [r.seconds * 1000 for r in results if r.seconds]
    print(f"extraction of the original page: median {percentile(times, 0.5):.0f} ms, "
          f"p95 {percentile(times, 0.95):.0f} ms over {len(times)} pages; "
          f"wall {wall:.0f} s with {workers} workers")
    skipped = Counter(r.skipped for r in results if r.skipped is not None)
    print(f"pages: {len(results)}, measured {len(done)}, skipped {sum(skipped.values())}"
          + "".join(f"; {n} {why}" for why, n in skipped.most_common()))
    no_body = sum(1 for r in done if not any(o.applied for o in r.outcomes if o.edit == "correction"))
    print(f"pages where no body paragraph was found in the HTML (paragraph edits n/a): {no_body}")
    misses = [(r.sha, o) for r in done for o in r.outcomes if o.applied and not o.classified]
    print(f"\nmisses by reason ({len(misses)}):")
    for name in EDITS:
        reasons = Counter(o.reason for _, o in misses if o.edit == name)
        if reasons:
            print(f"  {name}: " + "; ".join(f"{n} {reason}" for reason, n in reasons.most_common()))
    by_edit = [[(sha, o) for sha, o in misses if o.edit == name] for name in EDITS]
    interleaved = [m for row in zip_longest(*by_edit) for m in row if m is not None]  # every edit shown
    print(f"\nmisses (sha256 prefix, edit: reason; what was edited), first {max_misses}:")
    for sha, outcome in interleaved[:max_misses]:
        print(f"  {sha[:12]} {outcome.edit}: {outcome.reason}; {outcome.detail}"[:240])
    if len(misses) > max_misses:
        print(f"  … and {len(misses) - max_misses} more (--misses N shows more)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="the article-extraction-benchmark directory")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages (0: all)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the edits' choices")
    parser.add_argument("--misses", type=int, default=MAX_MISSES, help="misses listed at the end")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    parser.add_argument("--workers", type=int, default=cores, help="extraction processes (default: cores)")
    args = parser.parse_args(argv)

    truth_file = args.corpus / "ground-truth.json"
    if not truth_file.is_file():
        print(f"corpus_changes: no corpus at {args.corpus} (ground-truth.json missing)", file=sys.stderr)
        return 2
    truth: dict[str, dict[str, str]] = json.loads(truth_file.read_text(encoding="utf-8"))
    shas = list(truth)[: args.limit] if args.limit > 0 else list(truth)
    tasks = [(sha, truth[sha]["url"], truth[sha]["articleBody"], args.corpus / "html" / f"{sha}.html.gz",
              args.seed) for sha in shas]

    for line in machine_lines():
        print(line)
    print(f"corpus {args.corpus}, {len(tasks)} pages, seed {args.seed}, {args.workers} workers")
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.workers), initializer=warm_up) as pool:
        results = []
        for i, result in enumerate(pool.map(run_page, tasks), 1):
            results.append(result)
            if i % 25 == 0:
                print(f"  {i}/{len(tasks)} pages", file=sys.stderr, flush=True)
    print()
    report(results, time.perf_counter() - started, max(1, args.workers), args.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
