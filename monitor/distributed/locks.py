"""Locks over every process, held as PostgreSQL advisory locks on one connection per process.

Per-host politeness: at most ``fetch.per_host`` requests to one host at a time over every
worker. One check of a source at a time, even when a live worker was taken for gone (its
heartbeat late on a loaded machine) and its job handed to another: the second finds the
source's lock held and leaves it.

The Fetcher's semaphores only bound one process, and N workers would multiply the load a
site sees by N. A request first takes one of the host's ``per_host`` slots, the advisory
lock ``(key(host), slot)``, and gives it back when the response is read. Advisory locks are
made for this: they cost no table writes, and a worker that dies (even by SIGKILL) drops its
connection and with it every slot it held, so a crash never strands a host. The host
back-off after 429/503 (``Host.backoff_until``) is already in the database and so shared.

One connection per process holds all of its locks. Session-level advisory locks are
re-entrant within a session, so the process also keeps which ones it holds and never asks
for one of its own twice. Host slots use the two-int key space, sources the bigint one
(PostgreSQL keeps the two apart).
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
SOURCE_BASE = 0x6D6F6E0000000000  # + source id: the bigint key of a source's check lock


def host_key(host: str) -> int:
    """A stable signed 32-bit key for a host (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.sha1(host.encode()).digest()[:4], "big", signed=True)


class SessionLocks:
    """``slot(host)``: hold one of the host's ``per_host`` slots for one request;
    ``source(id)``: try to hold a source for its check."""

    def __init__(self, dsn: str, per_host: int) -> None:
        self._dsn = dsn
        self._per_host = per_host
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the shared connection
        self._held: defaultdict[int, set[int]] = defaultdict(set)
        self._sources: set[int] = set()

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

    @asynccontextmanager
    async def source(self, source_id: int) -> AsyncIterator[bool]:
        """Yields whether this process now holds the source (False: someone checks it now)."""
        if source_id in self._sources:
            yield False
            return
        self._sources.add(source_id)
        key = SOURCE_BASE + source_id
        try:
            mine = await self._query("SELECT pg_try_advisory_lock(%s)", key)
            try:
                yield mine
            finally:
                if mine:
                    await asyncio.shield(self._unlock("SELECT pg_advisory_unlock(%s)", key))
        finally:
            self._sources.discard(source_id)

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
            await self._unlock("SELECT pg_advisory_unlock(%s, %s)", key, number)
        finally:
            self._held[key].discard(number)

    async def _unlock(self, sql: str, *key: int) -> None:
        try:
            await self._query(sql, *key)
        except psycopg.Error as exc:  # a lost connection already released it
            log.warning("could not release advisory lock %s: %s", key, exc)

    async def _query(self, sql: str, *key: int) -> bool:
        async with self._lock:
            conn = await self._connection()
            try:
                cursor = await conn.execute(sql, key)
            except psycopg.OperationalError:
                # the session is gone and its locks with it: reconnect once and carry on
                await self.close()
                conn = await self._connection()
                cursor = await conn.execute(sql, key)
            row = await cursor.fetchone()
        return bool(row and row[0])

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        return self._conn
