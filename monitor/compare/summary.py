"""One line that tells a journalist what changed, most important first."""

from __future__ import annotations

from collections.abc import Callable

from monitor.compare.classify import Findings
from monitor.compare.model import ArticleContent
from monitor.compare.normalize import normalize

HEADLINE_CHARS = 48
NOTE_CHARS = 72


def summarize(found: Findings, before: ArticleContent, after: ArticleContent) -> str:
    """E.g. ``headline changed: "What is RedNote…" → "The great…"; 2 figures changed (…)``."""
    parts: dict[str, Callable[[], str]] = {
        "headline": lambda: _headline(before.title, after.title),
        "correction": lambda: f'correction appended: "{shorten(found.corrections[0], NOTE_CHARS)}"',
        "numbers": lambda: _figures(found),
        "quotes": lambda: _count(found.quotes, "quotation") + " changed",
        "lede": lambda: "lede edited",
        "paragraphs_added": lambda: _count(found.paragraphs_added, "paragraph") + " added",
        "paragraphs_removed": lambda: _count(found.paragraphs_removed, "paragraph") + " removed",
        "sentences_edited": lambda: _count(found.sentences_edited, "sentence") + " edited",
        "byline": lambda: f'byline changed: "{before.byline or ""}" → "{after.byline or ""}"',
        "dates": lambda: _dates(found),
        "minor": lambda: _minor(found),
    }
    classes = found.classes()
    return "; ".join(parts[name]() for name in classes) if classes else "no change"


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with "…"."""
    text = normalize(text).replace("\n", " ")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:-") + "…"


def _headline(before: str, after: str) -> str:
    old, new = shorten(before, HEADLINE_CHARS), shorten(after, HEADLINE_CHARS)
    return f'headline changed: "{old}" → "{new}"'


def _figures(found: Findings) -> str:
    examples: list[str] = []
    for removed, added in found.figures:
        examples += [f"{old} → {new}" for old, new in zip(removed, added, strict=False)]
        examples += [f"{old} removed" for old in removed[len(added) :]]
        examples += [f"{new} added" for new in added[len(removed) :]]
    shown = ", ".join(examples[:2]) + (", …" if len(examples) > 2 else "")
    return f"{_count(found.figures_changed, 'figure')} changed ({shown})"


def _dates(found: Findings) -> str:
    if found.classes() == ["dates"]:
        return "only dates changed: " + ", ".join(dict.fromkeys(found.dates))
    names = dict.fromkeys(entry.split(" ")[0] for entry in found.dates)
    return "dates changed (" + ", ".join(names) + ")"


def _minor(found: Findings) -> str:
    if found.classes() == ["minor"]:
        fixes = _count(found.minor, "fix", "fixes")
        return f"minor edits only: punctuation, case, typos or paragraph breaks ({fixes})"
    return _count(found.minor, "minor fix", "minor fixes")


def _count(n: int, singular: str, plural: str | None = None) -> str:
    if n == 1:
        return f"1 {singular}"
    return f"{n} {plural or singular + 's'}"
