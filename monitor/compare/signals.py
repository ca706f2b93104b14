"""What in a sentence carries meaning beyond its words: figures, quotations,
correction notes, timestamp lines, and whether an edit is only cosmetic.
"""

from __future__ import annotations

import re
from collections import Counter

from monitor.compare.words import levenshtein


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_NUMBER = re.compile(
    r"(?<![\w.])(?P<cur>[$€£¥]\s?)?(?P<num>\d+(?:[.,]\d+)*)(?P<ord>st|nd|rd|th)?"
    r"(?P<unit>\s?(?:%|percent\b|per cent\b|(?:million|billion|trillion|thousand|bn|m|k)\b))?",
    re.IGNORECASE,
)
# Number words a reporter writes out ("three days", "two dozen"); "one" is left out: it is
# far more often a pronoun ("one user said") than a figure.
_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen", "twenty")
_WORD_VALUES = {w: n for n, w in enumerate(_UNITS) if w != "one"}
_WORD_VALUES |= {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                 "ninety": 90, "hundred": 100, "dozen": 12, "dozens": 24, "tens": 20,
                 "hundreds": 200, "thousands": 2000, "millions": 2_000_000, "billions": 2_000_000_000}
_NUMBER_WORD = re.compile(
    rf"\b(?P<word>{'|'.join(sorted(_WORD_VALUES, key=len, reverse=True))})\b"
    r"(?P<unit>\s(?:%|percent\b|per cent\b|(?:million|billion|trillion|thousand)\b))?",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_WORD = re.compile(r"\w+")
_NEGATIONS = frozenset({"no", "not", "nor", "never", "none", "cannot", "nobody", "nothing"})

_NOT_A_DATE = (
    r"(?!\s*(?:\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun))"
)
_CORRECTION = re.compile(
    r"^\W*(?:corrections?|clarifications?|editor'?s'?\s+note|retraction)\b"
    rf"|^\W*update[ds]?\s*[:\-]{_NOT_A_DATE}"
    r"|\b(?:this|the)\s+(?:article|story|report|post|piece|headline|video|graphic)\s+"
    r"(?:has\s+been|have\s+been|was|were|is\s+being)\s+"
    r"(?:updated|corrected|amended|revised|changed|edited|clarified)\b"
    r"|\b(?:an?|the)\s+(?:earlier|previous|prior|original)\s+version\s+of\s+this\b"
    r"|\bregrets?\s+the\s+errors?\b",
    re.IGNORECASE,
)
_STAMP_PREFIX = re.compile(
    r"^\W*(?:last\s+)?(?:updated|published|posted|modified|created)\b\s*(?:on|at)?\s*:?",
    re.IGNORECASE,
)
_STAMP_WORDS = _wordset(
    "jan january feb february mar march apr april may jun june jul july aug august sep sept "
    "september oct october nov november dec december mon monday tue tues tuesday wed wednesday "
    "thu thur thurs thursday fri friday sat saturday sun sunday am pm a m p et est edt ct cst "
    "cdt mt mst mdt pt pst pdt gmt utc bst cet cest hkt jst ist aest at on z t"
)


def number_keys(text: str) -> Counter[str]:
    """The figures in ``text`` ("500,000", "3.5%", "$2 billion", "14th"), as comparable keys."""
    keys: Counter[str] = Counter()
    for match in _NUMBER.finditer(text):
        keys[_number_key(match)] += 1
    for match in _NUMBER_WORD.finditer(text):
        keys[_word_key(match)] += 1
    return keys


def number_display(text: str) -> dict[str, str]:
    """Each figure key of ``text`` mapped to the figure as written."""
    shown = {_word_key(m): m.group(0).strip() for m in _NUMBER_WORD.finditer(text)}
    return shown | {_number_key(m): m.group(0).strip() for m in _NUMBER.finditer(text)}


def _word_key(match: re.Match[str]) -> str:
    """"three" is 3 and "two million" is 2million: the same keys the digits give."""
    unit = " ".join((match.group("unit") or "").lower().split()).replace("percent", "%")
    return f"{_WORD_VALUES[match.group('word').lower()]}{unit.replace('per cent', '%')}"


def _number_key(match: re.Match[str]) -> str:
    currency = (match.group("cur") or "").strip()
    number = _THOUSANDS.sub("", match.group("num"))
    unit = " ".join((match.group("unit") or "").lower().split()).replace("percent", "%")
    return f"{currency}{number}{(match.group('ord') or '').lower()}{unit.replace('per cent', '%')}"


def figures_changed(before: str, after: str) -> tuple[list[str], list[str]]:
    """Figures only in ``before`` and figures only in ``after``, as written."""
    keys_a, keys_b = number_keys(before), number_keys(after)
    shown_a, shown_b = number_display(before), number_display(after)
    removed = [shown_a[k] for k in (keys_a - keys_b).elements()]
    added = [shown_b[k] for k in (keys_b - keys_a).elements()]
    return removed, added


def quoted_words(text: str) -> list[str]:
    """The lower-cased words inside double quotation marks in ``text``.

    A sentence may start or end inside a quotation that spans sentences: a
    first quotation mark that closes (no space before it) means the text
    before it was quoted.
    """
    inside = _first_quote_closes(text)
    marks: list[bool] = []
    for i, char in enumerate(text):
        if char == '"':
            inside = i == 0 or text[i - 1].isspace() or text[i - 1] in "([-"
        marks.append(inside)
    return [m.group(0).lower() for m in _WORD.finditer(text) if marks[m.start()]]


def _first_quote_closes(text: str) -> bool:
    position = text.find('"')
    return position > 0 and not text[position - 1].isspace() and text[position - 1] not in "([-"


def is_correction_note(sentence: str) -> bool:
    """Whether ``sentence`` is (the start of) a correction or editor's note."""
    return _CORRECTION.search(sentence) is not None


def is_timestamp_line(sentence: str) -> bool:
    """Whether ``sentence`` only states when the page was published or updated.

    Such lines ("Updated 3:45 PM EST, Tue January 14, 2025") are page churn when
    the extractor keeps them: their changes count as date changes.
    """
    prefix = _STAMP_PREFIX.match(sentence)
    if prefix is None:
        return False
    words = _WORD.findall(sentence[prefix.end() :].lower())
    return bool(words) and all(w.isdigit() or w in _STAMP_WORDS for w in words)


def is_minor_edit(before: str, after: str) -> bool:
    """Whether the edit only touches punctuation, spacing, case or fixes typos.

    A typo fix changes at most two words, each by a Levenshtein distance of at
    most 2 (1 for words of four letters or fewer); figures and negations never
    count as typos.
    """
    if number_keys(before) != number_keys(after):
        return False
    words_a, words_b = _WORD.findall(before.lower()), _WORD.findall(after.lower())
    if words_a == words_b or "".join(words_a) == "".join(words_b):
        return True
    if len(words_a) != len(words_b):
        return False
    pairs = [(x, y) for x, y in zip(words_a, words_b, strict=True) if x != y]
    return len(pairs) <= 2 and all(_is_typo(x, y) for x, y in pairs)


def _is_typo(a: str, b: str) -> bool:
    if min(len(a), len(b)) < 3 or {a, b} & _NEGATIONS:
        return False
    if any(c.isdigit() for c in a + b):
        return False
    limit = 1 if max(len(a), len(b)) <= 4 else 2
    return levenshtein(a, b) <= limit
