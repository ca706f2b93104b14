"""``compare``: the one entry point from two extracted versions to a :class:`Comparison`."""

from __future__ import annotations

from monitor.compare.classify import Findings, classify, severity
from monitor.compare.diff import Sentences, align, to_blocks
from monitor.compare.model import ArticleContent, Block, Comparison
from monitor.compare.normalize import normalize
from monitor.compare.summary import summarize
from monitor.compare.words import count_words, word_diff


def compare(before: ArticleContent, after: ArticleContent) -> Comparison:
    """Diff two versions of an article by sentence and word, classify and score the change."""
    sentences = Sentences.of(before.text), Sentences.of(after.text)
    steps = align(*sentences)
    blocks = to_blocks(steps, *sentences)
    found = classify(before, after, sentences, steps)
    stats = _stats(blocks, found)
    words_total = sum(count_words(s) for s in sentences[0].items + sentences[1].items)
    words_changed = stats["words_added"] + stats["words_removed"]
    old_title, new_title = normalize(before.title), normalize(after.title)
    classes = found.classes()
    return Comparison(
        changed=bool(classes),
        classes=classes,
        severity=severity(found, words_changed, words_total),
        summary=summarize(found, before, after),
        blocks=blocks,
        title_words=word_diff(old_title, new_title) if old_title != new_title else [],
        stats=stats,
    )


def _stats(blocks: list[Block], found: Findings) -> dict[str, int]:
    added = sum(count_words(b.after) for b in blocks if b.op == "insert")
    removed = sum(count_words(b.before) for b in blocks if b.op == "delete")
    for block in blocks:
        added += sum(count_words(w.text) for w in block.words if w.op == "insert")
        removed += sum(count_words(w.text) for w in block.words if w.op == "delete")
    return {
        "sentences_added": sum(1 for b in blocks if b.op == "insert"),
        "sentences_removed": sum(1 for b in blocks if b.op == "delete"),
        "sentences_edited": sum(1 for b in blocks if b.op == "edit"),
        "words_added": added,
        "words_removed": removed,
        "numbers_changed": found.figures_changed,
    }
