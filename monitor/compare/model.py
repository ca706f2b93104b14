"""The plain data of a comparison: what was compared and what came out.

These types are shared by the diff, the classifier, the event store and the
renderers (terminal, HTML report, web). They hold no behaviour beyond a few
read-only conveniences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WordOpKind = Literal["equal", "insert", "delete"]
BlockKind = Literal["equal", "insert", "delete", "edit"]
Severity = Literal["info", "minor", "major", "critical"]

SEVERITY_ORDER: tuple[Severity, ...] = ("info", "minor", "major", "critical")

CLASS_ORDER: tuple[str, ...] = (
    "headline",
    "correction",
    "numbers",
    "quotes",
    "lede",
    "paragraphs_added",
    "paragraphs_removed",
    "sentences_edited",
    "byline",
    "dates",
    "minor",
)


@dataclass(frozen=True)
class ArticleContent:
    """What the extractor found in one capture of an article."""

    title: str
    text: str  # paragraphs separated by "\n"
    byline: str | None = None
    published: str | None = None  # ISO date/time string as extracted
    modified: str | None = None


@dataclass(frozen=True)
class WordOp:
    """A run of words that is equal, inserted or deleted inside a sentence.

    ``text`` keeps the whitespace before its first word, so joining the
    ``equal`` and ``insert`` ops of a block gives back the sentence after the
    change, and joining ``equal`` and ``delete`` ops the sentence before it.
    """

    op: WordOpKind
    text: str


@dataclass(frozen=True)
class Block:
    """One sentence-level unit of a diff, in reading order.

    ``new_paragraph`` is an addition to the minimal shape: it is true when the
    sentence opens a paragraph (of the new text, or of the old one for a
    deletion), so renderers can keep the article's paragraphs.
    """

    op: BlockKind
    before: str  # sentence(s) before ("" for insert)
    after: str  # sentence(s) after ("" for delete)
    words: list[WordOp] = field(default_factory=list)  # only for "edit"
    new_paragraph: bool = False


@dataclass(frozen=True)
class Comparison:
    """The result of comparing two versions of an article.

    ``changed`` is false when title, byline, text and dates are equal after
    normalisation. A difference in the dates alone gives ``changed`` true with
    the single class ``dates`` and severity ``info``; versioning uses
    :func:`fingerprint`, which ignores dates.
    """

    changed: bool
    classes: list[str]  # a subset of CLASS_ORDER, in that order
    severity: Severity
    summary: str
    blocks: list[Block]
    title_words: list[WordOp]  # word diff of the headline, empty if unchanged
    stats: dict[str, int]
