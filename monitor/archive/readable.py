"""A clean, self-contained HTML copy of an archived article, for a reader rather than a replayer.

Built from the stored :class:`~monitor.store.models.Version` (title, byline, dates,
paragraphs), never from the captured page: no scripts, styles or images of the site,
nothing fetched when it opens. A banner says what it is: "Archived copy of URL,
captured at T", and whether the article changed afterwards.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from monitor.clock import iso
from monitor.store.models import Source, Version

TEMPLATES = Environment(
    loader=PackageLoader("monitor", "templates"), autoescape=True, undefined=StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def render_readable(
    source: Source, captured_at: datetime, version: Version, *, url: str,
    unchanged_since: datetime | None = None, later: list[Version] | None = None,
) -> str:
    """The readable page of ``version`` as captured from ``url`` at ``captured_at``.

    ``unchanged_since`` is the time of the full response this copy stands on when the
    capture itself was compact; ``later`` are the versions first seen after it."""
    later = later or []
    return TEMPLATES.get_template("readable.html").render(
        title=version.title or source.title or url,
        url=url, url_href=url if urlsplit(url).scheme in ("http", "https") else None,
        outlet=source.outlet or urlsplit(url).hostname or "",
        captured=iso(captured_at), unchanged_since=iso(unchanged_since),
        version=version, paragraphs=[p.strip() for p in version.text.split("\n") if p.strip()],
        later_count=len(later), latest=later[-1] if later else None,
        latest_seen=iso(later[-1].first_seen) if later else None,
    )
