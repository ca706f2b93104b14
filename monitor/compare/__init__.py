"""Compare two extracted versions of an article: normalise, diff, classify, score.

``compare(before, after)`` is the entry point; ``fingerprint`` decides whether
a capture is a new version at all; ``similarity`` tells an edited article from
a URL now serving a different one.
"""

from monitor.compare.classify import MAJOR_EDIT_SENTENCES, MAJOR_EDIT_SHARE
from monitor.compare.comparison import compare
from monitor.compare.model import (
    CLASS_ORDER,
    SEVERITY_ORDER,
    ArticleContent,
    Block,
    Comparison,
    Severity,
    WordOp,
)
from monitor.compare.normalize import fingerprint, normalize, similarity
from monitor.compare.sentences import split_paragraphs, split_sentences
from monitor.compare.words import word_diff

__all__ = [
    "CLASS_ORDER",
    "MAJOR_EDIT_SENTENCES",
    "MAJOR_EDIT_SHARE",
    "SEVERITY_ORDER",
    "ArticleContent",
    "Block",
    "Comparison",
    "Severity",
    "WordOp",
    "compare",
    "fingerprint",
    "normalize",
    "similarity",
    "split_paragraphs",
    "split_sentences",
    "word_diff",
]
