"""Article extraction with trafilatura (title, byline, dates, main text), off the event loop,
and the fast path that proves when no extraction is needed.

Extraction is the one CPU-heavy step of a check, so it runs in a process pool
sized to the cores; with ``workers=1`` it runs in a thread (tests, tiny monitors).
trafilatura itself is in monitor/extract_article.py, loaded by the first extraction.

The fast path, exact by construction
------------------------------------
Full extraction never reads the page itself: it reads its *extraction input*,
``extraction_input(page)`` (monitor/extract_input.py), the page minus the parts that
churn on every request and that the extractor has no business reading (script
source, style sheets, comment text, CSP nonces). The fingerprint of a fetch is
``input_digest(input, url, day)``: SHA-256 over

- the extractor's identity (``EXTRACTOR_IDENTITY``, monitor/extract_article.py): the
  installed versions of trafilatura, htmldate and every package they depend on, the
  libxml2 and Python they run on, and ``EXTRACT_REVISION``, bumped whenever
  ``extract_article`` changes;
- the day on this machine's calendar: htmldate rejects dates later than today, so the
  same bytes may give other dates tomorrow;
- the final URL (trafilatura reads dates from it) and the input bytes.

``extract_article`` is a deterministic function of exactly those (no caches across
calls: ``deduplicate=False``). So an equal digest means byte-identical input to the
same function on the same day, hence an identical ``ArticleContent``: nothing about
the page is guessed or compared approximately. A check stores the digest beside the
source only when the content it extracted from that input *is* the source's current
version (monitor/check.py), so a later check with the same digest takes that version
without extracting. Any doubt (another day, another URL, an upgrade, a check that
extracted something else) is a different or missing digest, and a full extraction.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import signal
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from monitor.compare import ArticleContent
from monitor.extract_input import extraction_input

__all__ = ["Extracted", "Extraction", "Extractor", "extract_article", "extract_page",
           "extract_unless", "extraction_input", "input_digest"]


def extract_article(html: bytes, url: str) -> ArticleContent | None:
    """The article in ``html``, or None when trafilatura finds no main text.

    Checks give it ``extraction_input(page)``, never the raw page (see the module doc).
    """
    from monitor.extract_article import extract_article as extract

    return extract(html, url)


def extract_page(html: bytes, url: str) -> ArticleContent | None:
    """Full extraction of a fetched page: ``extract_article`` of its extraction input."""
    return extract_article(extraction_input(html), url)


def input_digest(data: bytes, url: str, day: date) -> str:
    """The fingerprint of what ``extract_article(data, url)`` returns on ``day`` (module doc)."""
    from monitor.extract_article import EXTRACTOR_IDENTITY

    digest = hashlib.sha256()
    for part in (EXTRACTOR_IDENTITY.encode(), day.isoformat().encode(), url.encode()):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two splits collide
        digest.update(part)
    digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Extracted:
    """What ``extract_unless`` did with a page."""

    digest: str | None  # of its extraction input; None: the day turned while extracting
    content: ArticleContent | None
    extracted: bool  # False: the digest was the one known, nothing was extracted


def extract_unless(page: bytes, url: str, known: str | None) -> Extracted:
    """Full extraction of a fetched page, unless its input digest is ``known``.

    The day is the local calendar's, as trafilatura and htmldate read it (not the
    monitor's injected clock: they call ``datetime.now()`` themselves); a digest is
    only returned for an extraction that began and ended on the day it names.
    """
    data = extraction_input(page)
    day = date.today()
    digest = input_digest(data, url, day)
    if known is not None and digest == known:
        return Extracted(digest, None, extracted=False)
    content = extract_article(data, url)
    return Extracted(digest if date.today() == day else None, content, extracted=True)


@dataclass(frozen=True)
class Extraction:
    """A check's extraction step: the content, how it was had, and the digest to remember."""

    content: ArticleContent | None = None
    kind: str = "none"  # "full" | "fingerprint" (the current version, proved) | "none"
    digest: str | None = None  # the input digest ``content`` is exactly the extraction of


def _leave_interrupts_to_parent() -> None:
    """Ctrl-C reaches the whole process group: the pool's processes leave it to the
    monitor, which stops them itself once in-flight checks are done (no tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Extractor:
    """Runs extraction in a pool; create once, share across checks."""

    def __init__(self, workers: int = 0, *, processes: bool = False) -> None:
        """``processes``: a process even for one worker (a shard's event loop keeps its GIL)."""
        self._workers = workers or os.cpu_count() or 1
        self._processes = processes
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            if self._workers <= 1 and not self._processes:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract")
            else:
                # forkserver: the daemon has threads (APScheduler, SQLite), and fork() with
                # threads can deadlock a child; the server preloads trafilatura once.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["monitor.extract", "monitor.extract_article"])
                self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context,
                                                 initializer=_leave_interrupts_to_parent)
        return self._pool

    async def extract(self, html: bytes, url: str) -> ArticleContent | None:
        """Full extraction of a fetched page (its extraction input is made in the pool)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), extract_page, html, url)

    async def extract_unless(self, page: bytes, url: str, known: str | None) -> Extracted:
        """``extract_unless`` in the pool: the input is made there too, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), extract_unless, page, url, known)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
