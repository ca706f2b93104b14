"""Archived pages and downloads, served so that nothing of the archived site runs as us.

An archived page is someone else's HTML with someone else's scripts. Served from the
dashboard's origin it could read the dashboard and post to the API with the user's
sign-in cookie. So every archived byte we serve carries ``Content-Security-Policy:
sandbox`` (an opaque origin: no cookies, no same-origin requests, no scripts, no forms,
no top navigation) with ``default-src 'none'`` (no request leaves the page: opening an
old copy neither fetches the live site's trackers nor anything of ours), and the
dashboard shows it inside ``<iframe sandbox>``. Downloads add ``attachment`` on top.
"""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import Response
from sqlmodel import Session

from monitor.archive.restore import EXTENSIONS, Form, Restored, restore_bytes
from monitor.home import Home
from monitor.store.models import Source

SANDBOX_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
               "font-src data:; media-src data:; form-action 'none'; base-uri 'none'; "
               "frame-ancestors 'self'")
MEDIA_TYPES: dict[Form, str] = {"html": "text/html", "readable": "text/html; charset=utf-8",
                                "text": "text/plain; charset=utf-8", "warc": "application/warc"}


def sandboxed(body: bytes, media_type: str, *, filename: str | None = None) -> Response:
    headers = {
        "Content-Security-Policy": SANDBOX_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, max-age=300",
    }
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(body, media_type=media_type, headers=headers)


def copy_response(db: Session, home: Home, source: Source, copy: Restored, form: Form,
                  *, download: bool) -> Response:
    """One archived copy in ``form``, sandboxed; as a file when ``download``."""
    archive = home.open_archive()
    try:
        body = restore_bytes(db, archive, source, copy, form)
    finally:
        archive.close()
    name = f"source{source.id}-{_stamp(copy.capture.at)}{EXTENSIONS[form]}" if download else None
    return sandboxed(body, MEDIA_TYPES[form], filename=name)


def _stamp(at: datetime) -> str:
    return re.sub(r"[^0-9T]", "", at.strftime("%Y%m%dT%H%M%S"))
