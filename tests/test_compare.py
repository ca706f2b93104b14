"""Comparison of two extracted versions: normalisation, diff, classification, severity."""

from __future__ import annotations

import os
import random
import re
import unicodedata
from dataclasses import replace

import pytest

from monitor.compare import (
    SEVERITY_ORDER,
    ArticleContent,
    Comparison,
    compare,
    fingerprint,
    normalize,
    similarity,
    split_sentences,
    word_diff,
)
from monitor.compare.signals import figures_changed
from monitor.compare.words import count_words, tokenize

# A synthetic wire story (written for these tests, not copied from any outlet).
PARAGRAPHS = [
    "Over 700,000 new users joined RedNote in just two days this week, as Americans looked "
    "for an alternative to TikTok ahead of a possible U.S. ban.",
    "The Shanghai-based app, known in China as Xiaohongshu, was the most downloaded free app "
    "on Apple's U.S. App Store on Monday. Its parent company was valued at $17 billion in 2024.",
    '"It feels like a cultural exchange nobody planned," said Mr. Lee, a 31-year-old designer '
    "in Austin. He joined on Jan. 13 and has posted 12 videos since.",
    "Chinese users have greeted the newcomers with memes and offers of language lessons. "
    "Some posts drew more than 3.5 million likes.",
    "The company did not respond to a request for comment. Analysts said the influx could "
    "strain its content moderation, which follows Chinese rules.",
    "The Supreme Court is expected to rule on the TikTok law before Jan. 19.",
]
BASE = ArticleContent(
    title="Over half a million 'TikTok refugees' flock to China's RedNote",
    text="\n".join(PARAGRAPHS),
    byline="By Example Reporter",
    published="2025-01-15T08:00:00+00:00",
    modified="2025-01-15T08:00:00+00:00",
)


def edited(paragraph: int, old: str, new: str) -> ArticleContent:
    """BASE with ``old`` replaced by ``new`` in one paragraph."""
    paragraphs = list(PARAGRAPHS)
    assert old in paragraphs[paragraph]
    paragraphs[paragraph] = paragraphs[paragraph].replace(old, new)
    return replace(BASE, text="\n".join(paragraphs))


def with_paragraphs(paragraphs: list[str]) -> ArticleContent:
    return replace(BASE, text="\n".join(paragraphs))


def rank(comparison: Comparison) -> int:
    return SEVERITY_ORDER.index(comparison.severity)


# --- normalisation and fingerprints ---------------------------------------------------------


def test_normalize_removes_typographic_noise() -> None:
    messy = (
        "\ufeff  \u201cIt\u2019s over,\u201d she said \u2014 2\u00a0million users\u00ad  "
        "in \u2018refugee\u2019 mode\u200b.\r\n\r\n   \u2003Next\u2009para\u2013graph \u2212 "
        "\ufb01ne \uff13\uff10%  \n"
    )
    assert normalize(messy) == (
        "\"It's over,\" she said - 2 million users in 'refugee' mode.\nNext para-graph - fine 30%"
    )


def _normalize_as_specified(text: str) -> str:
    """normalize() as its docstring states it, written the slow, obvious way."""
    table = {**{ord(c): "'" for c in "\u2018\u2019\u201a\u201b\u2039\u203a\uff07"},
             **{ord(c): '"' for c in "\u201c\u201d\u201e\u201f\u00ab\u00bb\u301d\u301e\uff02"},
             **{ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58"
                                    "\ufe63\uff0d"},
             **{ord(c): None for c in "\u00ad\u034f\u180e\u200b\u200c\u200d\u2060\u2061\u2062"
                                     "\u2063\u2064\ufeff"}}
    text = unicodedata.normalize("NFKC", text).translate(table)
    lines = (re.sub(r"\s+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def test_normalize_is_its_specification_on_random_text() -> None:
    """The fast normalize (ASCII shortcut, one regex for the replaced characters, str.split for
    spaces) equals the plain definition on text mixing every kind of space, line break, quote,
    dash, invisible and compatibility character."""
    seed = int(os.environ.get("MONITOR_TEST_SEED") or random.randrange(2**32))
    print(f"seed {seed} (MONITOR_TEST_SEED repeats it)")
    rng = random.Random(seed)
    alphabet = [*"ab Z9.,'\"-\n\t\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\u00a0\u1680\u2009\u200a\u202f"
                "\u205f\u3000\ufb01\u00bd\u2460\u00e9e\u0301\uff21\u2018\u2019\u201c\u201d\u00ab\u2013"
                "\u2014\u2212\uff0d\u00ad\u200b\u180e\ufeff\u034f\u2060\u3002"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert normalize(text) == _normalize_as_specified(text), (seed, text)


def test_count_words_counts_the_word_tokens() -> None:
    seed = int(os.environ.get("MONITOR_TEST_SEED") or random.randrange(2**32))
    print(f"seed {seed} (MONITOR_TEST_SEED repeats it)")
    rng = random.Random(seed)
    alphabet = [*"ab9_ .,'-!?\"\n\u00e9\u2019\u3002", "U.S", "500,000", "don't", "3.5", "--", "x-"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert count_words(text) == sum(1 for t in tokenize(text) if t.is_word), (seed, text)


def test_the_compiled_sequence_matcher_matches_as_difflib_does() -> None:
    """Diffs and similarity use cydifflib's SequenceMatcher for speed; on word sequences like
    an article's edits (shared stretches, repeats, swaps) it gives difflib's very matches."""
    import difflib

    import cydifflib

    seed = int(os.environ.get("MONITOR_TEST_SEED") or random.randrange(2**32))
    print(f"seed {seed} (MONITOR_TEST_SEED repeats it)")
    rng = random.Random(seed)
    words = " ".join(PARAGRAPHS).split()
    for _ in range(300):
        a = [rng.choice(words[:rng.randint(5, len(words))]) for _ in range(rng.randint(0, 80))]
        b = list(a)
        for _ in range(rng.randint(0, 6)):
            at = rng.randint(0, len(b))
            b[at:at + rng.randint(0, 4)] = rng.sample(words, rng.randint(0, 3))
        ours = cydifflib.SequenceMatcher(None, a, b, autojunk=False)
        theirs = difflib.SequenceMatcher(None, a, b, autojunk=False)
        assert ours.get_opcodes() == theirs.get_opcodes() and ours.ratio() == theirs.ratio(), seed


def test_typographic_variants_have_one_fingerprint() -> None:
    curly = ArticleContent(
        title="China\u2019s RedNote welcomes \u201cTikTok refugees\u201d",
        text="Users\u00a0joined \u2014 fast.\u00ad\nSecond\u2009paragraph\u200b here.\n\n",
        byline="By\u00a0Example Reporter",
    )
    plain = ArticleContent(
        title='China\'s RedNote welcomes "TikTok refugees"',
        text="Users joined - fast.\r\n  Second paragraph here.",
        byline="By Example Reporter",
    )
    assert fingerprint(curly) == fingerprint(plain)
    assert not compare(curly, plain).changed


def test_fingerprint_ignores_dates_but_not_text_title_or_byline() -> None:
    later = replace(BASE, modified="2025-01-16T10:00:00+00:00", published="2025-01-14")
    assert fingerprint(later) == fingerprint(BASE)
    assert fingerprint(replace(BASE, title="Another headline")) != fingerprint(BASE)
    assert fingerprint(replace(BASE, byline="By Someone Else")) != fingerprint(BASE)
    assert fingerprint(edited(5, "Jan. 19", "Jan. 20")) != fingerprint(BASE)


def test_identical_content_is_unchanged() -> None:
    result = compare(BASE, replace(BASE))
    assert not result.changed
    assert result.classes == []
    assert result.severity == "info"
    assert result.summary == "no change"
    assert result.title_words == []
    assert all(block.op == "equal" for block in result.blocks)
    assert len(result.blocks) == len(split_sentences(BASE.text))


# --- sentences and similarity --------------------------------------------------------------


def test_sentence_splitter_keeps_abbreviations_and_decimals() -> None:
    text = (
        "Mr. Lee met Dr. Chen on Jan. 13 in Washington, D.C., to discuss the U.S. ban. "
        "Shares rose 3.5% to $2.75, a gain of 1.2 billion. "
        "The app is big in the U.S. The ban starts on Sunday.\n"
        '"Is it safe?" she asked. "Nobody knows." John F. Kennedy Jr. was not involved.'
    )
    assert split_sentences(text) == [
        "Mr. Lee met Dr. Chen on Jan. 13 in Washington, D.C., to discuss the U.S. ban.",
        "Shares rose 3.5% to $2.75, a gain of 1.2 billion.",
        "The app is big in the U.S.",
        "The ban starts on Sunday.",
        '"Is it safe?" she asked.',
        '"Nobody knows."',
        "John F. Kennedy Jr. was not involved.",
    ]


def test_sentences_never_span_paragraphs() -> None:
    assert split_sentences(
        "A heading without a period\nThe story starts here. Then it goes on"
    ) == [
        "A heading without a period",
        "The story starts here.",
        "Then it goes on",
    ]


def test_similarity_tells_an_edit_from_another_article() -> None:
    edit = edited(0, "Over 700,000", "More than 3 million")
    other = (
        "The central bank held interest rates steady on Wednesday, citing sticky inflation.\n"
        "Policymakers signalled two cuts later this year as the labour market cools.\n"
        "Bond yields fell after the decision and the currency weakened against the euro."
    )
    assert similarity(BASE.text, edit.text) > 0.9
    assert similarity(BASE.text, other) < 0.2
    assert similarity("", "") == 1.0


def test_word_diff_keeps_both_sides() -> None:
    before = "More than 700,000 new users joined, officials said."
    after = "More than 3 million new users joined this week, officials said."
    ops = word_diff(before, after)
    assert "".join(op.text for op in ops if op.op != "delete") == after
    assert " ".join("".join(op.text for op in ops if op.op != "insert").split()) == before
    assert [op.text.strip() for op in ops if op.op == "delete"] == ["700,000"]
    assert [op.text.strip() for op in ops if op.op == "insert"] == ["3 million", "this week"]


# --- classification ------------------------------------------------------------------------


def test_headline_change() -> None:
    after = replace(BASE, title="Why TikTok users are flocking to China's RedNote")
    result = compare(BASE, after)
    assert result.classes == ["headline"]
    assert result.severity == "major"
    assert result.summary.startswith('headline changed: "Over half a million')
    assert {op.op for op in result.title_words} == {"equal", "delete", "insert"}


def test_figure_change() -> None:
    result = compare(BASE, edited(0, "Over 700,000", "More than 3 million"))
    assert "numbers" in result.classes and "lede" in result.classes
    assert result.stats["numbers_changed"] == 1
    assert "1 figure changed (700,000 → 3 million)" in result.summary
    (edit,) = [block for block in result.blocks if block.op == "edit"]
    assert [op.text.strip() for op in edit.words if op.op == "delete"] == ["Over 700,000"]


@pytest.mark.parametrize(
    ("old", "new"),
    [("$17 billion", "$20 billion"), ("in 2024", "in 2023"), ("valued at $17 billion", "valued")],
)
def test_money_years_and_dropped_figures_count(old: str, new: str) -> None:
    result = compare(BASE, edited(1, old, new))
    assert "numbers" in result.classes
    assert result.severity in ("major", "critical")


def test_percentages_and_decimals_count() -> None:
    result = compare(BASE, edited(3, "3.5 million likes", "3.8 million likes"))
    assert "numbers" in result.classes
    assert "3.5 million → 3.8 million" in result.summary


def test_quote_change() -> None:
    result = compare(BASE, edited(2, "a cultural exchange nobody planned", "a cultural exchange"))
    assert "quotes" in result.classes
    assert result.severity == "major"


def test_removed_quotation_counts_as_quote_change() -> None:
    result = compare(BASE, with_paragraphs(PARAGRAPHS[:2] + PARAGRAPHS[3:]))
    assert "quotes" in result.classes and "paragraphs_removed" in result.classes


def test_lede_edit() -> None:
    result = compare(BASE, edited(0, "looked for an alternative to", "abandoned"))
    assert result.classes == ["lede", "sentences_edited"]
    assert result.severity == "major"


def test_sentence_edited_outside_the_lede() -> None:
    result = compare(BASE, edited(4, "could strain its content moderation", "may test its censors"))
    assert result.classes == ["sentences_edited"]
    assert result.severity == "minor"
    assert result.summary == "1 sentence edited"


def test_many_edits_make_sentence_edits_major() -> None:
    paragraphs = list(PARAGRAPHS)
    paragraphs[3] = "Chinese users have welcomed them warmly. Some posts drew huge attention."
    paragraphs[4] = "The company declined to comment. Analysts see moderation risks ahead."
    result = compare(BASE, with_paragraphs(paragraphs))
    assert "sentences_edited" in result.classes
    assert result.severity == "major"


def test_paragraph_added_in_the_middle() -> None:
    new = "Downloads of other Chinese apps, such as Lemon8, also rose sharply on Tuesday."
    result = compare(BASE, with_paragraphs([*PARAGRAPHS[:3], new, *PARAGRAPHS[3:]]))
    assert result.classes == ["paragraphs_added"]
    assert result.severity == "major"
    assert result.stats["sentences_added"] == 1 and result.stats["sentences_removed"] == 0
    assert [b.op for b in result.blocks].count("insert") == 1


def test_paragraph_removed() -> None:
    result = compare(BASE, with_paragraphs([*PARAGRAPHS[:4], PARAGRAPHS[5]]))
    assert result.classes == ["paragraphs_removed"]
    assert result.summary == "1 paragraph removed"
    assert result.stats["sentences_removed"] == 2


@pytest.mark.parametrize(
    "note",
    [
        "Correction: An earlier version of this story misstated the number of new users.",
        "CORRECTION (Jan. 16, 2025): The app was valued at $17 billion, not $17 million.",
        "Clarification: This story has been updated to say the figure is an estimate.",
        "Editor's note: This article was updated with a response from the company.",
        "This article has been updated to include comments from analysts.",
        "An earlier version of this article incorrectly described the app's owner.",
        "Update: The company responded after publication.",
        "The newsroom regrets the error.",
    ],
)
def test_correction_notes_in_common_forms(note: str) -> None:
    result = compare(BASE, with_paragraphs([*PARAGRAPHS, note]))
    assert result.classes == ["correction"]
    assert result.severity == "critical"
    assert result.summary.startswith("correction appended: ")


def test_correction_note_with_a_second_sentence_is_one_correction() -> None:
    note = "Correction: An earlier version misstated the figure. It was 700,000, not 7 million."
    result = compare(BASE, with_paragraphs([*PARAGRAPHS, note]))
    assert result.classes == ["correction"]


def test_byline_change() -> None:
    result = compare(BASE, replace(BASE, byline="By Example Reporter and Second Writer"))
    assert result.classes == ["byline"]
    assert result.severity == "minor"


def test_dates_only_is_info() -> None:
    result = compare(BASE, replace(BASE, modified="2025-01-16T09:00:00+00:00"))
    assert result.changed
    assert result.classes == ["dates"]
    assert result.severity == "info"
    assert "modified" in result.summary


def test_date_granularity_is_not_a_change() -> None:
    coarse = replace(BASE, published="2025-01-15", modified=None)
    fine = replace(BASE, published="2025-01-15T08:00:00+00:00", modified=None)
    assert not compare(coarse, fine).changed


def test_timestamp_line_churn_is_only_dates() -> None:
    before = with_paragraphs(["Updated 3:45 PM EST, Tue January 14, 2025", *PARAGRAPHS])
    after = with_paragraphs(["Updated 9:10 AM EST, Wed January 15, 2025", *PARAGRAPHS])
    result = compare(before, after)
    assert result.classes == ["dates"]
    assert result.severity == "info"


@pytest.mark.parametrize(
    ("paragraph", "old", "new"),
    [
        (4, "comment. Analysts", "comment; analysts"),  # punctuation
        (3, "memes and offers", "memes, and offers"),  # a comma
        (1, "Shanghai-based app", "Shanghai-Based App"),  # case
        (3, "greeted the newcomers", "greeted the newcommers"),  # a typo
        (4, "content moderation", "content moderaton"),  # a typo the other way
    ],
)
def test_cosmetic_edits_are_only_minor(paragraph: int, old: str, new: str) -> None:
    result = compare(BASE, edited(paragraph, old, new))
    assert result.changed
    assert result.classes == ["minor"]
    assert result.severity == "minor"
    assert result.summary.startswith("minor edits only")


def test_paragraph_breaks_alone_are_minor() -> None:
    merged = with_paragraphs([PARAGRAPHS[0] + " " + PARAGRAPHS[1], *PARAGRAPHS[2:]])
    result = compare(BASE, merged)
    assert result.classes == ["minor"]


def test_negation_is_not_a_typo() -> None:
    result = compare(BASE, edited(4, "The company did not respond", "The company did now respond"))
    assert "minor" not in result.classes
    assert "sentences_edited" in result.classes


def test_figure_change_outranks_a_comma() -> None:
    comma = compare(BASE, edited(3, "memes and offers", "memes, and offers"))
    figure = compare(BASE, edited(3, "3.5 million likes", "2 million likes"))
    assert rank(figure) > rank(comma)


def test_correction_outranks_everything_cosmetic_and_most_edits() -> None:
    note = "Correction: An earlier version of this story misstated the app's valuation."
    correction = compare(BASE, with_paragraphs([*PARAGRAPHS, note]))
    typo = compare(BASE, edited(3, "greeted the newcomers", "greeted the newcommers"))
    edit = compare(BASE, edited(4, "could strain its content moderation", "may test its censors"))
    assert rank(correction) > rank(edit) >= rank(typo)
    assert correction.severity == "critical"


def test_combined_edit_lists_classes_in_order_of_importance() -> None:
    paragraphs = list(PARAGRAPHS)
    paragraphs[0] = paragraphs[0].replace("Over 700,000", "More than 3 million")
    paragraphs[2] = paragraphs[2].replace("nobody planned", "no one planned")
    paragraphs[3] = paragraphs[3].replace("memes and offers", "memes, and offers")
    paragraphs.insert(5, "Downloads of Lemon8, another Chinese app, also rose on Tuesday.")
    del paragraphs[4]
    paragraphs.append("Correction: An earlier version misstated the number of new users.")
    after = ArticleContent(
        title="More than 3 million 'TikTok refugees' flock to China's RedNote",
        text="\n".join(paragraphs),
        byline="By Example Reporter and Second Writer",
        published=BASE.published,
        modified="2025-01-16T10:00:00+00:00",
    )
    result = compare(BASE, after)
    assert result.classes == [
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
    ]
    assert result.severity == "critical"
    assert result.stats["numbers_changed"] == 2  # one in the headline, one in the lede
    ops = [block.op for block in result.blocks]
    assert ops.count("edit") == 3 and "insert" in ops and "delete" in ops


def test_blocks_follow_reading_order() -> None:
    new = "Downloads of Lemon8, another Chinese app, also rose on Tuesday."
    after = with_paragraphs([PARAGRAPHS[0], new, *PARAGRAPHS[2:]])
    result = compare(BASE, after)
    texts = [block.after or block.before for block in result.blocks]
    assert texts[0].startswith("Over 700,000")
    assert texts.index(new) < texts.index(split_sentences(PARAGRAPHS[2])[0])
    assert [b.new_paragraph for b in result.blocks][:2] == [True, True]


def test_figures_written_as_words_count_and_match_their_digits() -> None:
    assert figures_changed("joined in two days", "joined in three days") == (["two"], ["three"])
    assert figures_changed("joined in three days", "joined in 3 days") == ([], [])
    assert figures_changed("two million users", "2 million users") == ([], [])
    assert figures_changed("one user said", "a user said") == ([], [])  # a pronoun, not a figure


def test_a_rewritten_one_sentence_lede_is_a_lede_change_not_a_paragraph_swap() -> None:
    before = ArticleContent("Budget vote", "Local residents pushed back against a proposed tax on "
                            "short-term rentals, ahead of next month's budget vote.\n" + "\n".join(
                                PARAGRAPHS[1:]))
    after = ArticleContent("Budget vote", "Union representatives announced plans to expand the "
                           "bridge repair programme, in a statement released late on Monday.\n"
                           + "\n".join(PARAGRAPHS[1:]))
    result = compare(before, after)
    assert result.classes == ["lede", "sentences_edited"] and result.severity == "major"


def test_a_number_word_in_reworded_text_is_not_a_changed_figure() -> None:
    before = ArticleContent("Farmers call for inquiry into airline merger", "\n".join(PARAGRAPHS))
    after = ArticleContent("Farmers call for inquiry into merger of two airlines", "\n".join(PARAGRAPHS))
    assert "numbers" not in compare(before, after).classes
    reworded = "\n".join([PARAGRAPHS[0], PARAGRAPHS[1] + " Two people familiar with it said so.",
                          *PARAGRAPHS[2:]])
    assert "numbers" not in compare(ArticleContent("T", "\n".join(PARAGRAPHS)),
                                    ArticleContent("T", reworded)).classes


def test_a_new_time_in_an_update_note_is_a_date_not_a_correction() -> None:
    note = "Editor's note: This story was updated at {} with new figures."
    before = ArticleContent("T", "\n".join([*PARAGRAPHS, note.format("5:45 p.m.")]))
    after = ArticleContent("T", "\n".join([*PARAGRAPHS, note.format("6:10 p.m.")]))
    result = compare(before, after)
    assert "correction" not in result.classes and result.severity != "critical"
