"""``extract_article``: trafilatura and htmldate on a page, and ``EXTRACTOR_IDENTITY``, what
they are (monitor/extract.py says how the fast path uses it).

Both are here, apart from monitor/extract.py, so that loading trafilatura is one step: a
process imports this module on its first extraction (the extraction pool's server preloads
it), and the identity it then computes names the code that process runs. A command that
extracts nothing never loads them.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import unicodedata

import htmldate
import lxml.etree
import trafilatura

from monitor.compare import ArticleContent

EXTRACT_REVISION = 1  # bump when extract_article (or what it is given) changes


def extract_article(html: bytes, url: str) -> ArticleContent | None:
    """The article in ``html``, or None when trafilatura finds no main text.

    Checks give it ``extraction_input(page)``, never the raw page (monitor/extract.py).
    """
    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True,
        deduplicate=False,
    )
    if document is None or isinstance(document, dict):
        return None
    text = (document.text or "").strip()
    if not text:
        return None
    modified = htmldate.find_date(html, original_date=False, extensive_search=False)
    published = document.date
    return ArticleContent(
        title=(document.title or "").strip(),
        text=text,
        byline=(document.author or None),
        published=published,
        modified=modified if modified and modified != published else None,
    )


def _dependency_versions(*roots: str) -> list[str]:
    """``name==version`` of ``roots`` and everything they require (not extras), sorted."""
    found: dict[str, str] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[key] = dist.version
        pending += [re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
                    for req in dist.requires or () if "extra ==" not in req]
    return sorted(f"{name}=={version}" for name, version in found.items())


EXTRACTOR_IDENTITY = "\n".join([
    f"monitor-extract/{EXTRACT_REVISION}",
    *_dependency_versions("trafilatura", "htmldate"),
    "libxml2==" + ".".join(map(str, lxml.etree.LIBXML_VERSION)),
    f"python=={platform.python_version()}", f"unicode=={unicodedata.unidata_version}",
])
