"""Refuse URLs that would turn the monitor into a way into the network it runs in (SSRF).

A URL added through the web is fetched by the daemon from inside that network, so a host
that is, or resolves to, a loopback, private, link-local or otherwise non-global address
is refused unless ``web.allow_private_urls`` is set. Every address the name resolves to
is checked, not just the first. The check is made when the URL is added (``check_url``)
and again on every fetch of such a source (``refuse_private``): each redirect hop, and the
address the answer actually came from, so neither a redirect nor a name that later
resolves elsewhere (DNS rebinding) leads inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from monitor.urls import BadURL, canonicalize


class RefusedURL(ValueError):
    """The URL points at an address the monitor must not fetch on a web user's behalf."""


def _non_global(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def is_private(address: str) -> bool:
    """Whether an IP address is one the monitor must not fetch for a web user."""
    try:
        return _non_global(address)
    except ValueError:
        return False


async def refuse_private(url: str) -> None:
    """Before a fetch hop: RefusedURL when ``url``'s host is or resolves to a private address.
    A name that does not resolve is left to the fetch, which reports it as a DNS failure."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await asyncio.to_thread(resolve, host)
        except (OSError, UnicodeError):
            return
    private = [a for a in addresses if _non_global(a)]
    if private:
        raise RefusedURL(f"{host} is a private or loopback address ({', '.join(private)}); "
                         "a source added through the web may not lead there")


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (socket.gaierror when none); tests replace this
    function so that no name they add ever reaches a real DNS server."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_url(url: str, *, allow_private: bool) -> str:
    """The canonical URL, or RefusedURL / BadURL saying why it may not be watched."""
    canonical = canonicalize(url)
    if allow_private:
        return canonical
    host = urlsplit(canonical).hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await asyncio.to_thread(resolve, host)
        except (socket.gaierror, UnicodeError) as exc:
            raise RefusedURL(f"{url}: host {host!r} does not resolve ({exc}); "
                             "it cannot be checked for a private address") from exc
    private = [a for a in addresses if _non_global(a)]
    if private:
        raise RefusedURL(f"{url}: {host} is a private or loopback address ({', '.join(private)}); "
                         "set web.allow_private_urls to watch it")
    return canonical


__all__ = ["BadURL", "RefusedURL", "check_url", "resolve"]
