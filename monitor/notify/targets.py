"""The configured notifiers: Apprise URLs, and the redacted labels that stand for them.

An Apprise URL often carries a secret (a password, a webhook token). Logs, the database and
the command line only ever see its label: Apprise's own privacy form of the URL
(``url(privacy=True)``) without the query, which for ``json://user:pw@host/hook`` is
``json://user:****@host/hook``. Only this module and ``send`` hold the URLs themselves.

Apprise is imported here, and this module imports nothing of the monitor, so that
``monitor.settings`` can validate the URLs when the configuration is loaded.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import apprise

_DELIMITERS = re.compile(r"[/:@?&=#,+]")


@dataclass(frozen=True)
class Target:
    """One notifier: its URL (secret) and its label (safe to log, store and print)."""

    label: str
    url: str = ""

    def __repr__(self) -> str:  # never the URL, even in a traceback or a debugger
        return f"Target({self.label!r})"


def check_url(url: str) -> str:
    """``url`` if Apprise can load it; otherwise ValueError with a reason that hides secrets."""
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        plugin = apprise.Apprise.instantiate(url)
    if plugin is not None:
        return url
    reasons = [line for line in str(captured.getvalue()).splitlines() if " - WARNING - " in line]
    reason = reasons[-1].split(" - WARNING - ", 1)[1].strip(" :") if reasons else "Apprise cannot parse it"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        reason = "no scheme:// (e.g. json://host/path)"
    elif scheme not in _schemes():
        reason = f"unsupported scheme {scheme!r}" + (
            " (for a webhook use json://, xml:// or form://)" if scheme in ("http", "https") else "")
    raise ValueError(f"{mask(url)!r} is not a usable Apprise URL: {scrub(reason, url)}")


def load_targets(urls: list[str]) -> list[Target]:
    """A Target per URL, in order. Two URLs with the same privacy form get ``#2``, ``#3``…"""
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for url in urls:
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:  # the settings validated it; a plugin that changed its mind
            raise ValueError(f"{mask(url)!r} is not a usable Apprise URL")
        label = str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
        seen[label] = seen.get(label, 0) + 1
        targets.append(Target(label if seen[label] == 1 else f"{label} #{seen[label]}", url))
    return targets


def mask(url: str) -> str:
    """A URL Apprise could not read, made safe to show: the scheme and host names stay,
    passwords become ``****`` and other parts longer than three characters ``a...z``.

    Written by hand because Apprise only redacts URLs it could load.
    """
    if "://" not in url:
        return _hide(url)
    scheme, rest = url.split("://", 1)
    rest = rest.split("?", 1)[0]
    authority, _, path = rest.partition("/")
    shown = _authority(authority)
    parts = [_hide(part) for part in path.split("/")] if path else []
    return f"{scheme}://" + "/".join([shown, *parts])


def scrub(text: str, url: str) -> str:
    """``text`` (an Apprise message about ``url``) with every longer piece of the URL masked."""
    for piece in sorted(set(_DELIMITERS.split(url.split("://", 1)[-1])), key=len, reverse=True):
        if len(piece) > 3 and not _is_host(piece):
            text = text.replace(piece, _hide(piece))
    return text


def _authority(authority: str) -> str:
    userinfo, at, hostport = authority.rpartition("@")
    user = userinfo.split(":", 1)[0]
    shown_user = (user + (":****" if ":" in userinfo else "") + "@") if at else ""
    host, _, port = hostport.partition(":")
    if _is_host(host) and (not port or port.isdigit()):
        return shown_user + hostport
    return shown_user + _hide(hostport)


def _is_host(text: str) -> bool:
    return text == "localhost" or ("." in text and bool(re.fullmatch(r"[\w.-]+", text)))


def _hide(part: str) -> str:
    return part if len(part) <= 3 else f"{part[0]}...{part[-1]}"


def _schemes() -> set[str]:
    """Every scheme Apprise knows (its plugins register them)."""
    manager = apprise.manager_plugins.NotificationManager()  # type: ignore[no-untyped-call]
    return {str(scheme).lower() for scheme in manager.schemas()}  # type: ignore[no-untyped-call]
