"""What kind of change a diff is, and how much it matters to a reader.

Severity of each class (the comparison takes the highest):

============================  ==========  ==============================================
class                         severity    why
============================  ==========  ==============================================
``correction``                critical    the outlet says it got something wrong
``headline``                  major       the cited title no longer matches
``numbers``                   major       a cited figure may no longer match
``quotes``                    major       someone is now quoted differently, or not at all
``lede``                      major       the story's first paragraph says something else
``paragraphs_added``          major       new reporting a reader has not seen
``paragraphs_removed``        major       reporting withdrawn from the story
``sentences_edited``          minor/major major from 3 changed sentences or 10% of the words
``byline``                    minor       the credit changed, the story did not
``minor``                     minor       punctuation, case or a typo fix
``dates``                     info        only the published/modified dates moved
============================  ==========  ==============================================

A changed figure or an appended correction therefore always outranks a comma.
Lines that only state when the page was updated ("Updated 3:45 PM EST, …")
count as ``dates``, never as edited sentences or figures: they are page churn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from monitor.compare.diff import Sentences, Step
from monitor.compare.model import CLASS_ORDER, SEVERITY_ORDER, ArticleContent, Severity
from monitor.compare.normalize import normalize
from monitor.compare.signals import (
    figures_changed,
    is_correction_note,
    is_minor_edit,
    is_timestamp_line,
    quoted_words,
)

_FIXED_SEVERITY: dict[str, Severity] = {
    "correction": "critical",
    "headline": "major",
    "numbers": "major",
    "quotes": "major",
    "lede": "major",
    "paragraphs_added": "major",
    "paragraphs_removed": "major",
    "byline": "minor",
    "minor": "minor",
    "dates": "info",
}
MAJOR_EDIT_SENTENCES = 3
MAJOR_EDIT_SHARE = 0.10


@dataclass
class Findings:
    """Everything the classifier noticed; classes, severity and summary derive from it."""

    headline: bool = False
    corrections: list[str] = field(default_factory=list)
    figures: list[tuple[list[str], list[str]]] = field(default_factory=list)
    quotes: int = 0
    lede: bool = False
    paragraphs_added: int = 0
    paragraphs_removed: int = 0
    sentences_edited: int = 0
    byline: bool = False
    dates: list[str] = field(default_factory=list)
    minor: int = 0
    first_paragraph: set[str] = field(default_factory=set)  # "added"/"removed" as a whole

    @property
    def figures_changed(self) -> int:
        return sum(max(len(removed), len(added)) for removed, added in self.figures)

    def classes(self) -> list[str]:
        present = {
            "headline": self.headline,
            "correction": bool(self.corrections),
            "numbers": bool(self.figures),
            "quotes": self.quotes > 0,
            "lede": self.lede,
            "paragraphs_added": self.paragraphs_added > 0,
            "paragraphs_removed": self.paragraphs_removed > 0,
            "sentences_edited": self.sentences_edited > 0,
            "byline": self.byline,
            "dates": bool(self.dates),
            "minor": self.minor > 0,
        }
        return [name for name in CLASS_ORDER if present[name]]


def classify(
    before: ArticleContent,
    after: ArticleContent,
    sentences: tuple[Sentences, Sentences],
    steps: list[Step],
) -> Findings:
    """Find the classes of change between two versions, given their sentence alignment."""
    found = Findings()
    _check_title(found, before.title, after.title)
    _check_metadata(found, before, after)
    whole = _whole_paragraphs(steps, *sentences)
    for step in steps:
        _check_step(found, step, sentences, whole)
    if found.first_paragraph == {"added", "removed"}:  # the opening paragraph was rewritten
        found.paragraphs_added -= 1
        found.paragraphs_removed -= 1
        found.sentences_edited += 1
        found.lede = True
    same_sentences = all(step.op == "equal" for step in steps)
    if same_sentences and normalize(before.text) != normalize(after.text):
        found.minor += 1  # only the paragraph breaks moved
    return found


def severity(found: Findings, words_changed: int, words_total: int) -> Severity:
    """The highest severity among the classes found (see the module table)."""
    levels: list[Severity] = ["info"]
    levels += [_FIXED_SEVERITY[name] for name in found.classes() if name in _FIXED_SEVERITY]
    if found.sentences_edited:
        share = words_changed / max(words_total, 1)
        many = found.sentences_edited >= MAJOR_EDIT_SENTENCES or share >= MAJOR_EDIT_SHARE
        levels.append("major" if many else "minor")
    return max(levels, key=SEVERITY_ORDER.index)


def _check_title(found: Findings, before: str, after: str) -> None:
    old, new = normalize(before), normalize(after)
    if old == new:
        return
    if is_minor_edit(old, new):
        found.minor += 1
        return
    found.headline = True
    _add_figures(found, old, new)


def _check_metadata(found: Findings, before: ArticleContent, after: ArticleContent) -> None:
    found.byline = normalize(before.byline or "") != normalize(after.byline or "")
    for label in ("published", "modified"):
        old, new = getattr(before, label), getattr(after, label)
        if not _same_time(old, new):
            found.dates.append(f"{label} {old or 'none'} → {new or 'none'}")


def _same_time(a: str | None, b: str | None) -> bool:
    """Equal dates; a date-only value equals a time on the same day (extractor granularity).

    A time without zone is UTC.
    """
    if a is None or b is None or a.strip() == b.strip():
        return (a or "").strip() == (b or "").strip()
    try:
        if _is_date_only(a) or _is_date_only(b):  # the day as written, in its own zone
            return _parse(a).date() == _parse(b).date()
        return _utc(a) == _utc(b)
    except ValueError:
        return False


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.strip())


def _utc(value: str) -> datetime:
    moment = _parse(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _is_date_only(value: str) -> bool:
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _add_figures(found: Findings, before: str, after: str) -> None:
    removed, added = figures_changed(before, after)
    if not (removed and added) and all(_spelled(f) for f in removed + added):
        return  # "two people said" in a reworded clause is not a changed figure; two -> three is
    found.figures.append((removed, added))


def _without_digits(text: str) -> str:
    return re.sub(r"[\d:.,]+|\b[ap]\.?m\.?", "", normalize(text).lower())


def _spelled(figure: str) -> bool:
    return not any(ch.isdigit() for ch in figure)


@dataclass(frozen=True)
class _Whole:
    """Sentences that belong to paragraphs added or removed as a whole."""

    added: set[int]  # indices into the new sentences
    removed: set[int]  # indices into the old sentences


def _whole_paragraphs(steps: list[Step], a: Sentences, b: Sentences) -> _Whole:
    inserted = {i for step in steps if step.op == "insert" for i in step.b}
    deleted = {i for step in steps if step.op == "delete" for i in step.a}
    return _Whole(_covered(inserted, b), _covered(deleted, a))


def _covered(changed: set[int], sentences: Sentences) -> set[int]:
    """The sentences of ``changed`` whose whole paragraph is in ``changed``."""
    by_paragraph: dict[int, list[int]] = {}
    for index, paragraph in enumerate(sentences.paragraph):
        by_paragraph.setdefault(paragraph, []).append(index)
    return {i for group in by_paragraph.values() if set(group) <= changed for i in group}


def _check_step(
    found: Findings, step: Step, sentences: tuple[Sentences, Sentences], whole: _Whole
) -> None:
    a, b = sentences
    if step.op == "edit":
        before = " ".join(a.items[i] for i in step.a)
        after = " ".join(b.items[j] for j in step.b)
        _check_edit(found, before, after, lede=_in_lede(step, a, b))
    elif step.op == "insert":
        _check_insert(found, step.b[0], b, step.b[0] in whole.added)
    elif step.op == "delete":
        _check_delete(found, step.a[0], a, step.a[0] in whole.removed)


def _in_lede(step: Step, a: Sentences, b: Sentences) -> bool:
    first_old = any(a.paragraph[i] == 0 for i in step.a)
    return first_old or any(b.paragraph[j] == 0 for j in step.b)


def _check_edit(found: Findings, before: str, after: str, *, lede: bool) -> None:
    if is_timestamp_line(before) or is_timestamp_line(after):
        found.dates.append("timestamp line changed")
    elif is_correction_note(before) and _without_digits(before) == _without_digits(after):
        found.dates.append("update note time changed")  # "updated at 5:45 p.m." -> "6:10 p.m."
    elif is_minor_edit(before, after):
        found.minor += 1
    elif is_correction_note(after):
        found.corrections.append(after)
    else:
        found.sentences_edited += 1
        found.lede = found.lede or lede
        found.quotes += quoted_words(before) != quoted_words(after)
        _add_figures(found, before, after)


def _check_insert(found: Findings, index: int, b: Sentences, whole: bool) -> None:
    sentence = b.items[index]
    if is_timestamp_line(sentence):
        found.dates.append("timestamp line added")
    elif is_correction_note(sentence) or _in_note(index, b):
        found.corrections.append(sentence)
    elif whole:
        found.paragraphs_added += b.opens[index]
        if b.paragraph[index] == 0 and b.opens[index]:
            found.first_paragraph.add("added")
    else:
        found.sentences_edited += 1
        found.lede = found.lede or b.paragraph[index] == 0


def _in_note(index: int, b: Sentences) -> bool:
    """Whether the sentence follows a correction note in the same paragraph."""
    start = index
    while start > 0 and b.paragraph[start - 1] == b.paragraph[index]:
        start -= 1
    return any(is_correction_note(b.items[i]) for i in range(start, index))


def _check_delete(found: Findings, index: int, a: Sentences, whole: bool) -> None:
    sentence = a.items[index]
    if is_timestamp_line(sentence):
        found.dates.append("timestamp line removed")
        return
    found.quotes += bool(quoted_words(sentence))
    if whole:
        found.paragraphs_removed += a.opens[index]
        if a.paragraph[index] == 0 and a.opens[index]:
            found.first_paragraph.add("removed")
    else:
        found.sentences_edited += 1
        found.lede = found.lede or a.paragraph[index] == 0
