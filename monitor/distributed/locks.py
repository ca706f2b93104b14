"""Per-host politeness across processes: at most ``fetch.per_host`` requests to one host at
a time over every worker, held as PostgreSQL advisory locks.

The Fetcher's semaphores only bound one process, and N workers would multiply the load a
site sees by N. A request first takes one of the host's ``per_host`` slots, the advisory
lock ``(key(host), slot)``, and gives it back when the response is read. Advisory locks are
made for this: they cost no table writes, and a worker that dies (even by SIGKILL) drops its
connection and with it every slot it held, so a crash never strands a host. The host
back-off after 429/503 (``Host.backoff_until``) is already in the database and so shared.

One connection per process holds all of its slots. Session-level advisory locks are
re-entrant within a session, so the process also keeps which slots it holds and never asks
for one of its own twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

log = logging.getLogger("monitor.distributed")
POLL_FIRST, POLL_MAX = 0.02, 0.25  # seconds between tries while every slot is taken


def host_key(host: str) -> int:
    """A stable signed 32-bit key for a host (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.sha1(host.encode()).digest()[:4], "big", signed=True)


class HostSlots:
    """``slot(host)``: hold one of the host's ``per_host`` slots for one request."""

    def __init__(self, dsn: str, per_host: int) -> None:
        self._dsn = dsn
        self._per_host = per_host
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the shared connection
        self._held: defaultdict[int, set[int]] = defaultdict(set)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[int]:
        key = host_key(host)
        number = await self._acquire(key)
        try:
            yield number
        finally:
            await asyncio.shield(self._release(key, number))

    async def _acquire(self, key: int) -> int:
        wait = POLL_FIRST
        while True:
            for number in range(self._per_host):
                if number in self._held[key]:
                    continue
                self._held[key].add(number)  # taken here before the await: no twin in this process
                if await self._query("SELECT pg_try_advisory_lock(%s, %s)", key, number):
                    return number
                self._held[key].discard(number)
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_MAX)

    async def _release(self, key: int, number: int) -> None:
        try:
            await self._query("SELECT pg_advisory_unlock(%s, %s)", key, number)
        except psycopg.Error as exc:  # a lost connection already released it
            log.warning("could not release host slot %s/%s: %s", key, number, exc)
        finally:
            self._held[key].discard(number)

    async def _query(self, sql: str, key: int, number: int) -> bool:
        async with self._lock:
            conn = await self._connection()
            try:
                cursor = await conn.execute(sql, (key, number))
            except psycopg.OperationalError:
                # the session is gone and its locks with it: reconnect once and carry on
                await self.close()
                conn = await self._connection()
                cursor = await conn.execute(sql, (key, number))
            row = await cursor.fetchone()
        return bool(row and row[0])

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        return self._conn
