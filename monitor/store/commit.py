"""Group commit: the row changes of many concurrent checks in one transaction.

A check hands its changes to :class:`GroupCommit` as a function of a session. One writer
takes whatever is queued (waiting while more keep coming, ``_gather``; at most
``max_batch``), runs ``before_commit`` once (the WARC archive's fsync: the bytes are on disk
before the rows that point to them commit), applies every change in one session and
commits once.
SQLite pays one commit per batch instead of one per check, and the rows a batch touches
are read in one query per table (``preload``) instead of one per check.

A change that fails does not take the others down: the batch is rolled back and every
change is applied again in a transaction of its own, so only the failing one raises.
Changes must therefore read what they modify from the session they are given.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, inspect
from sqlalchemy.sql import Executable
from sqlmodel import Session, SQLModel, col, select

from monitor.store.db import session

log = logging.getLogger("monitor.store.commit")
T = TypeVar("T")
Preload = Iterable[tuple[type[SQLModel], Any]]  # (model, primary key) the change will read


@dataclass
class _Pending:
    change: Callable[[Session], Any]
    preload: list[tuple[type[SQLModel], Any]]
    future: asyncio.Future[Any]


class GroupCommit:
    """One writer for the changes of many checks; ``async with`` it around a pass."""

    def __init__(self, engine: Engine, *, before_commit: Callable[[], None] = lambda: None,
                 window: float = 0.005, linger: float = 0.1, max_batch: int = 256) -> None:
        self._engine = engine
        self._before_commit = before_commit
        self._window = window
        self._linger = linger
        self._max = max_batch
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (for logs and tests)
        self.retried = 0  # batches that failed and were applied one change at a time

    async def submit(self, change: Callable[[Session], T], preload: Preload = ()) -> T:
        """Apply ``change`` in the next batch; its result once that batch has committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(change, list(preload), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self._queue:
            await self._gather()
            batch, self._queue = self._queue[: self._max], self._queue[self._max:]
            try:
                # in the event loop's thread: the fsync and the commit block it for a moment once
                # per batch; run from a worker thread, the page server saw stalled connections
                # reset (2-4 per 1,000 fetches) and the pass was slower
                results = self._commit(batch)
            except BaseException as exc:  # cancelled, or the fsync failed: nobody's rows commit
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc if isinstance(exc, Exception)
                                                     else RuntimeError("group commit cancelled"))
                raise
            for pending, (ok, value) in zip(batch, results, strict=True):
                if pending.future.done():  # its check was cancelled; the rows are committed anyway
                    continue
                if ok:
                    pending.future.set_result(value)
                else:
                    pending.future.set_exception(value)

    async def _gather(self) -> None:
        """Let the checks in flight join the batch: wait ``window``, and again while more keep
        joining, ``linger`` at most. Alone a check waits one window. In a busy pass one window
        gathered ~25 checks, and the batch's queries, statements, fsync and commit were a third
        of their commit CPU; lingering, ~140 share them (2,000 304s in one process: 0.38 ->
        0.24 ms of commit CPU per check, 1.34 -> 1.12 ms in all, and 2.8 -> 2.3 s)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._linger
        while len(self._queue) < self._max:
            queued = len(self._queue)
            await asyncio.sleep(self._window)
            if len(self._queue) == queued or loop.time() >= until:
                return

    def _commit(self, batch: list[_Pending]) -> list[tuple[bool, Any]]:
        """fsync, then one transaction; on failure, one per change."""
        self._before_commit()
        try:
            with session(self._engine) as db:
                loaded = _preload(db, [key for pending in batch for key in pending.preload])
                results = [pending.change(db) for pending in batch]
                run_batched(db)
                db.commit()
                del loaded
        except Exception:
            if len(batch) == 1:
                return [self._alone(batch[0])]
            log.warning("group commit of %s checks failed; committing them one by one",
                        len(batch), exc_info=True)
            self.retried += 1
            return [self._alone(pending) for pending in batch]
        self.batches += 1
        return [(True, result) for result in results]

    def _alone(self, pending: _Pending) -> tuple[bool, Any]:
        try:
            with session(self._engine) as db:
                result = pending.change(db)
                run_batched(db)
                db.commit()
        except Exception as exc:
            return False, exc
        self.batches += 1
        return True, result

    async def drain(self) -> None:
        """Wait until every change submitted so far is committed (or failed)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.gather(self._writer, return_exceptions=True)

    async def __aenter__(self) -> GroupCommit:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.drain()


def batched(db: Session, statement: Executable, params: dict[str, Any]) -> None:
    """Run the Core ``statement`` with ``params`` when the transaction commits, in one
    executemany with every other change's parameters for it. Whoever commits ``db`` calls
    ``run_batched`` first. Per check, an ORM object costs a flush of its own (or its share
    of one) and an identity-map entry; a row of an executemany costs a tuple."""
    db.info.setdefault(_BATCHED, {}).setdefault(statement, []).append(params)


def run_batched(db: Session) -> None:
    """Execute what ``batched`` collected on ``db`` (after the ORM's pending changes)."""
    statements: dict[Executable, list[dict[str, Any]]] = db.info.pop(_BATCHED, {})
    if statements:
        db.flush()
    for statement, rows in statements.items():
        db.connection().execute(statement, rows)


_BATCHED = "monitor.batched"


def _preload(db: Session, keys: list[tuple[type[SQLModel], Any]]) -> list[SQLModel]:
    """Read the rows a batch will change in one query per table, into the session's identity
    map, where each change's ``db.get`` then finds them without a query of its own (the
    caller holds the returned rows: the identity map alone keeps only weak references)."""
    loaded: list[SQLModel] = []
    wanted: defaultdict[type[SQLModel], set[Any]] = defaultdict(set)
    for model, key in keys:
        if key is not None:
            wanted[model].add(key)
    for model, ids in wanted.items():
        pk = inspect(model).primary_key[0]
        for chunk in _chunks(sorted(ids), 500):  # bound the IN list (SQLite's variable limit)
            loaded.extend(db.exec(select(model).where(col(pk).in_(chunk))).all())
    return loaded


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
