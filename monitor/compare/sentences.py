"""A paragraph-aware sentence splitter tuned for news copy.

News text is full of periods that do not end a sentence: "U.S.", "Mr.",
"Jan. 14", "3.5%", "John F. Kennedy". A boundary is a run of ``.``, ``!`` or
``?`` (plus closing quotes or brackets) followed by a space and a capital
letter, digit or opening quote, unless the word before the period is a known
abbreviation or an initial. A dotted acronym such as "U.S." or a company
suffix such as "Inc." ends a sentence only when the next word is a typical
sentence opener ("… in the U.S. The app …").
"""

from __future__ import annotations

import re
from functools import lru_cache

from monitor.compare.normalize import normalize


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Abbreviations that are (nearly) always followed by more of the same sentence.
_NEVER_FINAL = _wordset(
    "mr mrs ms dr prof sen rep gov gen col lt sgt capt cmdr adm maj st mt ft rev hon pres "
    "supt det insp atty jan feb mar apr jun jul aug sep sept oct nov dec vs v "
    "approx est fig figs vol op pp ca cf al"
)
# Abbreviations that often end a sentence too.
_MAYBE_FINAL = _wordset("inc corp co ltd llc plc jr sr etc bros")
_OPENERS = _wordset(
    "a an the it its he she they we i you his her their our this that these those there "
    "but and so yet or in on at for from by with after before when while as if since "
    "although though however meanwhile still also some many most more one two three "
    "what why how who where"
)

_CANDIDATE = re.compile(r"[.!?]+[\"')\]]*\s+")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?]+[\"')\]]*$")
_NEXT_WORD = re.compile(r"[\"'(\[]*(\w+)")
_LIST_MARKER = re.compile(r"\(?(?:\d{1,3}|[A-Za-z]|[ivxlcIVXLC]{1,5})[.)]")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")


def split_paragraphs(text: str) -> list[str]:
    """The normalised, non-empty paragraphs of ``text``."""
    normal = normalize(text)
    return normal.split("\n") if normal else []


def paragraph_sentences(text: str) -> list[list[str]]:
    """The sentences of ``text``, grouped by paragraph."""
    return [list(sentences) for sentences in _paragraph_sentences(text)]


@lru_cache(maxsize=64)
def _paragraph_sentences(text: str) -> tuple[tuple[str, ...], ...]:
    """Cached: one check splits the same article for the diff, the drift test and the report."""
    return tuple(tuple(_split_paragraph(paragraph)) for paragraph in split_paragraphs(text))


def split_sentences(text: str) -> list[str]:
    """The normalised sentences of ``text`` in reading order.

    A sentence never spans two paragraphs.
    """
    return [s for paragraph in paragraph_sentences(text) for s in paragraph]


def _split_paragraph(paragraph: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(paragraph):
        end = match.end()  # what follows is read in place: a copy of it per candidate was O(n²)
        head = paragraph[start:end]
        if not _LIST_MARKER.fullmatch(head.strip()) and _is_boundary(head.rstrip(), paragraph, end):
            sentences.append(head.strip())
            start = end
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_boundary(head: str, text: str, at: int) -> bool:
    """Whether a sentence ends after ``head`` when ``text[at:]`` follows."""
    following = _NEXT_WORD.match(text, at)
    if following is None or not _opens_sentence(text, at):
        return False
    if head.rstrip("\"')]").endswith(("!", "?")):
        return True
    before = _WORD_BEFORE.search(head)
    return before is None or _ends_sentence(before.group(1), following.group(1))


def _opens_sentence(text: str, at: int) -> bool:
    """A capital, a digit, or a letter of a script without case (Korean, Arabic …) at ``at``,
    after any opening quotes and brackets."""
    while at < len(text) and text[at] in "\"'([":
        at += 1
    first = text[at:at + 1]
    return first.isdigit() or (first.isalpha() and not first.islower())


def _ends_sentence(word: str, next_word: str) -> bool:
    """Whether ``word.`` ends a sentence when ``next_word`` follows it."""
    stem = word.rstrip(".")
    bare = stem.lower()
    if _DOTTED.fullmatch(stem):
        return next_word.lower() in _OPENERS  # U.S., a.m., e.g.
    if bare in _NEVER_FINAL:
        return False
    if bare in ("no", "nos") and word[0].isupper():
        return not next_word[:1].isdigit()  # No. 1
    if len(bare) == 1 and bare.isalpha() and word[0].isupper():
        return False  # an initial: John F. Kennedy
    if bare in _MAYBE_FINAL:
        return next_word.lower() in _OPENERS
    return True
