"""Article extraction with trafilatura (title, byline, dates, main text), off the event loop.

Extraction is the one CPU-heavy step of a check, so it runs in a process pool
sized to the cores; with ``workers=1`` it runs in a thread (tests, tiny monitors).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import htmldate
import trafilatura

from monitor.compare import ArticleContent


def extract_article(html: bytes, url: str) -> ArticleContent | None:
    """The article in ``html``, or None when trafilatura finds no main text."""
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


class Extractor:
    """Runs ``extract_article`` in a pool; create once, share across checks."""

    def __init__(self, workers: int = 0) -> None:
        self._workers = workers or os.cpu_count() or 1
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            if self._workers <= 1:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract")
            else:
                # forkserver: the daemon has threads (APScheduler, SQLite), and fork() with
                # threads can deadlock a child; the server preloads trafilatura once.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["monitor.extract"])
                self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
        return self._pool

    async def extract(self, html: bytes, url: str) -> ArticleContent | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), extract_article, html, url)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
