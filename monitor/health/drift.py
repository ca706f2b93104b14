"""Content drift: the URL still answers 200 with an article, but another one.

Sites recycle URLs (a slug reused, a CMS migration mapping old ids to new stories,
a domain bought by someone else). The page looks fine and no status code says
anything; only the text does. Compared with the last good version of the source:
the body's word sequence collapses (``similarity`` below ``drift_similarity``), the
headline shares little with the old one, and the new headline does not match the
URL's own slug (live blogs and rewritten stories keep one or the other).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from monitor.compare import ArticleContent, similarity, split_sentences
from monitor.compare.normalize import word_sequence

MIN_ARTICLE_CHARS = 250  # below this a page is a stub, an error page or an extraction problem
MIN_ARTICLE_SENTENCES = 3
SAME_HEADLINE = 0.5  # share of headline words in common that still means the same story
_SHORT = 3  # words this short say nothing about the story ("the", "of", "in")


def looks_like_article(content: ArticleContent) -> bool:
    """Enough running text to be a story rather than a stub, a list or an error page."""
    text = content.text.strip()
    return len(text) >= MIN_ARTICLE_CHARS and len(split_sentences(text)) >= MIN_ARTICLE_SENTENCES


def drift(before: ArticleContent, after: ArticleContent, url: str, threshold: float,
          score: float | None = None) -> str | None:
    """Why ``after`` is another article than ``before`` at ``url``, or None if it is not.

    ``score`` is ``similarity(before.text, after.text)`` when the caller has it already.
    """
    if not looks_like_article(after):
        return None
    score = similarity(before.text, after.text) if score is None else score
    if score >= threshold:
        return None
    new_title = _words(after.title)
    if _overlap(_words(before.title), new_title) >= SAME_HEADLINE:
        return None
    slug = slug_words(url)
    if slug and _overlap(slug, new_title) >= SAME_HEADLINE:
        return None
    return (f"serves another article: {after.title!r} instead of {before.title!r} "
            f"(text similarity {score:.2f})")


def slug_words(url: str) -> set[str]:
    """The words of the URL's most descriptive path segment (``/2024/01/rednote-users`` → rednote, users)."""
    segments = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    best = max(segments, key=lambda s: len(re.findall(r"[a-zA-Z]{3,}", s)), default="")
    return {w.lower() for w in re.findall(r"[a-zA-Z]+", best) if len(w) > _SHORT - 1
            and not w.isdigit()} - {"html", "htm", "php", "aspx", "article", "story", "index"}


def _words(text: str) -> set[str]:
    return {w for w in word_sequence(text) if len(w) >= _SHORT}


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of the smaller set found in the other one."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))
