"""Sentence-level diff of two article texts, then word-level inside edits.

The sentences are matched with difflib's ``SequenceMatcher`` (as compiled by cydifflib). In each
replaced stretch, old and new sentences are paired by word similarity with an
order-keeping alignment: a pair becomes an ``edit`` block with a word diff,
the rest become ``delete`` and ``insert`` blocks. This is the granularity of
NewsEdits (Spangher et al. 2022): sentence first, then words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cydifflib import SequenceMatcher

from monitor.compare.model import Block
from monitor.compare.sentences import paragraph_sentences
from monitor.compare.signals import is_minor_edit
from monitor.compare.words import word_diff

StepKind = Literal["equal", "insert", "delete", "edit"]

PAIR_AT_LEAST = 0.45  # word similarity for two sentences to count as one edited sentence
_MAX_PAIRING_CELLS = 40_000  # beyond this a replaced stretch is another text, not an edit
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Sentences:
    """The normalised sentences of a text and the paragraph each belongs to."""

    items: list[str]
    paragraph: list[int]  # paragraph index of each sentence
    opens: list[bool]  # whether each sentence starts its paragraph

    @classmethod
    def of(cls, text: str) -> Sentences:
        items: list[str] = []
        paragraph: list[int] = []
        opens: list[bool] = []
        for index, sentences in enumerate(paragraph_sentences(text)):
            items.extend(sentences)
            paragraph.extend([index] * len(sentences))
            opens.extend(i == 0 for i in range(len(sentences)))
        return cls(items, paragraph, opens)


@dataclass(frozen=True)
class Step:
    """One aligned unit: indices into the old (``a``) and new (``b``) sentences.

    Usually one sentence on each side (none on one side for an insertion or a
    deletion); an edit that only moved a sentence boundary (a full stop
    turned into a semicolon) spans several.
    """

    op: StepKind
    a: tuple[int, ...]
    b: tuple[int, ...]


def align(a: Sentences, b: Sentences) -> list[Step]:
    """The sentence alignment of ``a`` to ``b`` in reading order."""
    matcher = SequenceMatcher(None, a.items, b.items, autojunk=False)
    steps: list[Step] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            steps.extend(
                Step("equal", (i,), (j,)) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
        elif _boundary_moved(a.items[i1:i2], b.items[j1:j2]):
            steps.append(Step("edit", tuple(range(i1, i2)), tuple(range(j1, j2))))
        else:
            pairs = _pair(a.items[i1:i2], b.items[j1:j2])
            steps.extend(_interleave(pairs, i1, i2, j1, j2))
    return steps


def _boundary_moved(old: list[str], new: list[str]) -> bool:
    """Sentences merged or split by a punctuation change, the words otherwise untouched."""
    if not old or not new or len(old) == len(new):
        return False
    return is_minor_edit(" ".join(old), " ".join(new))


def to_blocks(steps: list[Step], a: Sentences, b: Sentences) -> list[Block]:
    """The :class:`Block` of each step."""
    return [_block(step, a, b) for step in steps]


def _block(step: Step, a: Sentences, b: Sentences) -> Block:
    before = " ".join(a.items[i] for i in step.a)
    after = " ".join(b.items[j] for j in step.b)
    opens = b.opens[step.b[0]] if step.b else a.opens[step.a[0]]
    if step.op == "edit":
        return Block("edit", before, after, word_diff(before, after), opens)
    return Block(step.op, before, after, [], opens)


def _pair(old: list[str], new: list[str]) -> list[tuple[int, int]]:
    """Order-keeping pairs (i, j) of similar sentences, maximising total similarity."""
    if not old or not new or len(old) * len(new) > _MAX_PAIRING_CELLS:
        return []
    words_old = [_WORD.findall(s.lower()) for s in old]
    words_new = [_WORD.findall(s.lower()) for s in new]
    score = [[0.0] * (len(new) + 1) for _ in range(len(old) + 1)]
    for i in range(1, len(old) + 1):
        for j in range(1, len(new) + 1):
            best = max(score[i - 1][j], score[i][j - 1])
            similar = _similar(words_old[i - 1], words_new[j - 1])
            score[i][j] = max(best, score[i - 1][j - 1] + similar) if similar else best
    return _trace(score, words_old, words_new)


def _similar(a: list[str], b: list[str]) -> float:
    """Word similarity of two sentences, or 0.0 below the pairing threshold."""
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < PAIR_AT_LEAST or matcher.quick_ratio() < PAIR_AT_LEAST:
        return 0.0
    ratio = matcher.ratio()
    return ratio if ratio >= PAIR_AT_LEAST else 0.0


def _trace(
    score: list[list[float]], old: list[list[str]], new: list[list[str]]
) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    i, j = len(old), len(new)
    while i > 0 and j > 0:
        if score[i][j] == score[i - 1][j]:
            i -= 1
        elif score[i][j] == score[i][j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return pairs[::-1]


def _interleave(pairs: list[tuple[int, int]], i1: int, i2: int, j1: int, j2: int) -> list[Step]:
    """Steps for a replaced stretch: before each pair its unpaired old, then new sentences."""
    steps: list[Step] = []
    i, j = i1, j1
    for pi, pj in [*((i1 + x, j1 + y) for x, y in pairs), (i2, j2)]:
        steps.extend(Step("delete", (k,), ()) for k in range(i, pi))
        steps.extend(Step("insert", (), (k,)) for k in range(j, pj))
        if pi < i2:
            steps.append(Step("edit", (pi,), (pj,)))
        i, j = pi + 1, pj + 1
    return steps
