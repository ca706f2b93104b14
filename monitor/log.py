"""Logging: structured ``key=value`` lines, quiet by default.

Default level shows a summary per pass and a line per source that failed or
changed state; ``--verbose`` adds one line per check.
"""

from __future__ import annotations

import logging
import sys
import time


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter("%(asctime)s level=%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("monitor")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in ("httpx", "httpcore", "apscheduler", "trafilatura", "htmldate", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(_still_running)


def _still_running(record: logging.LogRecord) -> bool:
    """Drop APScheduler's warning that a tick was skipped because the last pass still runs.

    With ``max_instances=1`` that is the intended behaviour, and a long pass would
    otherwise log it every ``schedule.tick``.
    """
    return "maximum number of running instances reached" not in record.getMessage()
