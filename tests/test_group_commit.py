"""Group commit (monitor/store/commit.py) and the batched claim: many checks' rows in one
transaction after one fsync, and a failing change never takes the others down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from monitor.store import open_engine, session
from monitor.store.commit import GroupCommit
from monitor.store.models import Host, Source
from monitor.store.sources import claim, due_source_ids


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_engine(f"sqlite:///{tmp_path / 'monitor.db'}")


def add_host(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
    def change(db: Session) -> str:
        db.add(Host(host=name, backoff_reason="test"))
        db.flush()
        if fail:
            raise ValueError(f"change for {name} fails")
        return name
    return change


def hosts(engine: Engine) -> set[str]:
    with session(engine) as db:
        return set(db.exec(select(Host.host)).all())


def test_concurrent_changes_commit_together_after_one_sync(engine: Engine) -> None:
    asyncio.run(_concurrent_changes_commit_together_after_one_sync(engine))


async def _concurrent_changes_commit_together_after_one_sync(engine: Engine) -> None:
    order: list[str] = []
    committer = GroupCommit(engine, before_commit=lambda: order.append("sync"), window=0.01)
    async with committer:
        done = await asyncio.gather(*(committer.submit(add_host(f"h{i}")) for i in range(20)))
    assert done == [f"h{i}" for i in range(20)]
    assert hosts(engine) == {f"h{i}" for i in range(20)}
    assert committer.batches == 1 and order == ["sync"]


def test_a_failing_change_loses_nothing_else(engine: Engine) -> None:
    asyncio.run(_a_failing_change_loses_nothing_else(engine))


async def _a_failing_change_loses_nothing_else(engine: Engine) -> None:
    committer = GroupCommit(engine, window=0.01)
    changes = [add_host(f"h{i}", fail=i == 3) for i in range(6)]
    results = await asyncio.gather(*(committer.submit(c) for c in changes), return_exceptions=True)
    assert isinstance(results[3], ValueError) and "h3" in str(results[3])
    assert [r for i, r in enumerate(results) if i != 3] == ["h0", "h1", "h2", "h4", "h5"]
    assert hosts(engine) == {"h0", "h1", "h2", "h4", "h5"}
    assert committer.retried == 1


def test_nothing_commits_when_the_sync_fails(engine: Engine) -> None:
    asyncio.run(_nothing_commits_when_the_sync_fails(engine))


async def _nothing_commits_when_the_sync_fails(engine: Engine) -> None:
    def broken_disk() -> None:
        raise OSError("fsync failed")

    committer = GroupCommit(engine, before_commit=broken_disk, window=0.01)
    results = await asyncio.gather(*(committer.submit(add_host(f"h{i}")) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert hosts(engine) == set()


def test_preloaded_rows_are_changed_in_place(engine: Engine) -> None:
    asyncio.run(_preloaded_rows_are_changed_in_place(engine))


async def _preloaded_rows_are_changed_in_place(engine: Engine) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with session(engine) as db:
        sources = [Source(url=f"http://example.test/{i}", given_url=f"http://example.test/{i}",
                          created_at=now) for i in range(5)]
        db.add_all(sources)
        db.commit()
        ids = [s.id for s in sources]

    def retitle(source_id: int | None):  # type: ignore[no-untyped-def]
        def change(db: Session) -> None:
            source = db.get(Source, source_id)
            assert source is not None
            source.title = f"title {source_id}"
        return change

    committer = GroupCommit(engine, window=0.01)
    await asyncio.gather(*(committer.submit(retitle(i), [(Source, i)]) for i in ids))
    with session(engine) as db:
        assert {s.title for s in db.exec(select(Source)).all()} == {f"title {i}" for i in ids}


def test_claim_wins_free_sources_in_order_and_due_skips_leased(engine: Engine) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with session(engine) as db:
        sources = [Source(url=f"http://example.test/{i}", given_url=f"http://example.test/{i}",
                          created_at=now, next_check_at=now) for i in range(1200)]
        db.add_all(sources)
        db.commit()
        ids = [s.id or 0 for s in sources]
        held = ids[700:705]
        assert claim(db, held, now, timedelta(minutes=5)) == held
        wanted = list(reversed(ids))  # more than one IN chunk, in a given order
        won = claim(db, wanted, now, timedelta(minutes=5))
        assert won == [i for i in wanted if i not in held]
        assert due_source_ids(db, now, 2000, leased=False) == []
        assert len(due_source_ids(db, now, 2000)) == 1200
        assert due_source_ids(db, now + timedelta(minutes=6), 10, leased=False, exclude=ids[:3]) \
            == ids[3:13]
