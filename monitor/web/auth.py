"""Who may change things: the API token, the sign-in cookie and its CSRF token.

Reading is open to whoever can reach the server (bound to loopback by default); every
write needs the token, either as ``Authorization: Bearer TOKEN`` (API clients) or as the
sign-in cookie set by ``/login`` plus a CSRF token in the form or ``X-CSRF-Token``
header (the dashboard's buttons). Cookie and CSRF values are HMACs of the token, so
changing the token signs everybody out. Without ``web.token`` a random one is made once
and kept in ``archive/web-token`` (mode 0600); ``monitor serve`` prints the sign-in link.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

TOKEN_FILE = "web-token"
COOKIE = "monitor_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class BindRefused(ValueError):
    """Binding beyond this machine without a configured token."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, configured_token: str | None) -> None:
    """Refuse to listen beyond loopback unless the user chose a token (web.token)."""
    if not is_loopback(host) and not configured_token:
        raise BindRefused(
            f"--host {host}: listening beyond this machine needs an API token; set web.token "
            "(MONITOR_WEB__TOKEN, at least 16 characters) first")


def resolve_token(configured: str | None, archive_dir: Path) -> str:
    """The configured token, or the one kept in ``archive/web-token`` (made on first use)."""
    if configured:
        return configured
    path = archive_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if len(token) >= 16:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


class Keys:
    """The token and the values derived from it."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self.session = self._derive("session")
        self.csrf = self._derive("csrf")

    def _derive(self, purpose: str) -> str:
        return hmac.new(self._token, purpose.encode(), hashlib.sha256).hexdigest()

    def is_token(self, value: str) -> bool:
        return hmac.compare_digest(value.encode(), self._token)

    def signed_in(self, request: Request) -> bool:
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session)

    def bearer(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def keys_of(request: Request) -> Keys:
    keys: Keys = request.app.state.web.keys
    return keys


async def require_writer(request: Request) -> None:
    """A FastAPI dependency for every write endpoint: the token, or sign-in cookie + CSRF."""
    keys = keys_of(request)
    bearer = keys.bearer(request)
    if bearer is not None:
        if not keys.is_token(bearer):
            raise HTTPException(403, "wrong API token")
        return
    if keys.signed_in(request):
        if not _same_origin(request):
            raise HTTPException(403, "cross-origin write refused")
        csrf = request.headers.get(CSRF_HEADER)
        if csrf is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            csrf = str((await request.form()).get(CSRF_FIELD, ""))
        if not csrf or not hmac.compare_digest(csrf, keys.csrf):
            raise HTTPException(403, "missing or wrong CSRF token (reload the page)")
        return
    raise HTTPException(401, "this needs the API token: 'Authorization: Bearer TOKEN' or sign in "
                             "at /login", headers={"WWW-Authenticate": "Bearer"})


def _same_origin(request: Request) -> bool:
    """Browsers send Origin on POST; a sandboxed archived page sends ``null``."""
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") in (None, "same-origin")
    return origin == f"{request.url.scheme}://{request.url.netloc}"
