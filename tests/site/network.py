"""Certificates and name resolution for the imitation news site.

TLS outlets present a leaf certificate from a test CA made with ``trustme`` (one per
process); a broken outlet presents one from a second CA that nobody trusts. Named
outlets live at ``<name>.test``, which only :class:`SiteTransport` resolves: it wraps
httpcore's anyio backend so every other host connects as usual.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import httpcore
import httpx
import trustme

TEST_TLD = ".test"


def authority(trusted: bool = True) -> trustme.CA:
    """The test CA (``trusted``) or the rogue one whose certificates no client accepts."""
    return _authorities()[not trusted]


@functools.cache
def _authorities() -> tuple[trustme.CA, trustme.CA]:
    return trustme.CA(organization_name="News Site Test CA"), trustme.CA(organization_name="Rogue CA")


def server_context(hosts: Iterable[str], trusted: bool = True) -> ssl.SSLContext:
    """A server-side context with a leaf certificate for ``hosts`` (names or IPs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority(trusted).issue_cert(*hosts).configure_cert(ctx)
    return ctx


def client_context() -> ssl.SSLContext:
    """A client context that trusts the test CA and nothing else."""
    return ssl.create_default_context(cadata=authority().cert_pem.bytes().decode("ascii"))


class _ResolvingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend with ``*.test`` names looked up by ``resolve``."""

    def __init__(self, resolve: Callable[[str], str | None]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolve = resolve

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        name = host.lower().rstrip(".")
        if name.endswith(TEST_TLD):
            address = self._resolve(name)
            if address is None:
                try:  # glibc's EAI_NONAME, wrapped the way httpcore's anyio backend does it
                    raise socket.gaierror(-2, "Name or service not known")
                except socket.gaierror as exc:
                    raise httpcore.ConnectError(exc) from exc
            host = address
        return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class SiteResolver(aiohttp.abc.AbstractResolver):
    """The same lookups for aiohttp (the monitor's HTTP/1.1 connections, monitor/transport.py)."""

    def __init__(self, resolve: Callable[[str], str | None]) -> None:
        self._resolve = resolve
        self._system = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[aiohttp.abc.ResolveResult]:
        name = host.lower().rstrip(".")
        if not name.endswith(TEST_TLD):
            return await self._system.resolve(host, port, family)
        address = self._resolve(name)
        if address is None:
            raise socket.gaierror(-2, "Name or service not known")
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        await self._system.close()


class SiteTransport(httpx.AsyncHTTPTransport):
    """HTTP/1.1 transport that resolves ``*.test`` through ``resolve`` (``None``: the name
    does not exist) and trusts only the test CA."""

    def __init__(self, resolve: Callable[[str], str | None],
                 limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
                 ) -> None:
        ctx = client_context()
        super().__init__(verify=ctx, http1=True, http2=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ctx, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, http1=True, http2=False,
            network_backend=_ResolvingBackend(resolve))
