"""Group commit (monitor/store/commit.py) and the batched claim: many checks' rows in one
transaction after one fsync, and a failing change never takes the others down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from monitor.check import check_source
from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.store import open_engine, session
from monitor.store.commit import GroupCommit, run_batched
from monitor.store.models import Capture, Event, Host, Source, Version
from monitor.store.sources import claim, due_source_ids
from tests.conftest import PARAGRAPHS, add_sources, checking, events_of, publish
from tests.site import NewsSite


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


def test_an_update_of_a_vanished_row_fails_its_change_alone(engine: Engine) -> None:
    asyncio.run(_an_update_of_a_vanished_row_fails_its_change_alone(engine))


async def _an_update_of_a_vanished_row_fails_its_change_alone(engine: Engine) -> None:
    """As the ORM's flush does: a batched UPDATE that matches fewer rows than it has fails."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with session(engine) as db:
        sources = [Source(url=f"http://example.test/{i}", given_url="", created_at=now)
                   for i in range(4)]
        db.add_all(sources)
        db.commit()
        ids = [s.id for s in sources]

    def retitle(source_id: int | None, vanish: bool = False):  # type: ignore[no-untyped-def]
        def change(db: Session) -> int | None:
            source = db.get(Source, source_id)
            assert source is not None
            source.title = "retitled"
            if vanish:  # deleted by someone else before the batch writes it
                db.connection().execute(delete(Source).where(col(Source.id) == source_id))
            return source_id
        return change

    committer = GroupCommit(engine, window=0.01)
    results = await asyncio.gather(*(committer.submit(retitle(i, vanish=i == ids[2]), [(Source, i)])
                                     for i in ids), return_exceptions=True)
    assert isinstance(results[2], StaleDataError)
    assert [r for i, r in enumerate(results) if i != 2] == [ids[0], ids[1], ids[3]]
    assert committer.retried == 1
    with session(engine) as db:
        titles = {s.id: s.title for s in db.exec(select(Source))}
    assert titles == {ids[0]: "retitled", ids[1]: "retitled", ids[2]: None, ids[3]: "retitled"}


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


class _Collect:
    """Stands in for a GroupCommit: keeps each check's change (and what it preloads) to apply
    later, on any database."""

    def __init__(self) -> None:
        self.changes: list[tuple[Callable[[Session], Any], list[Any]]] = []

    async def submit(self, change: Callable[[Session], Any], preload: Any = ()) -> None:
        self.changes.append((change, list(preload)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_writes_the_rows_the_orm_writes_one_check_at_a_time(
    backend: str, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Repeats (304s) in one batch with checks that fail, move, change, back their host off
    and recover: each row as the ORM's flush writes it, committing one check at a time. In
    the batch the ORM flushes what is pending at each new capture or query (up to the
    back-off's Host read); the recovery and the repeats after it are left to run_batched."""
    monkeypatch.setenv("MONITOR_HEALTH__PROBE", "false")  # the probe's random path is per home
    if backend == "postgresql":
        monkeypatch.setenv("MONITOR_DATABASE_URL", request.getfixturevalue("pg_url"))
    batched = open_home(tmp_path / "batched")
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    reference = open_home(tmp_path / "reference")
    homes = (batched, reference)
    with NewsSite(outlets=["apnews", "cnn"], static_outlets=["apnews", "cnn"]) as site:
        # in the order the checks' changes are applied
        names = ["same-0", "moved", "same-1", "gone", "edited", "busy", "recovers", "same-2", "same-3"]
        urls = {n: publish(site, "cnn" if n == "busy" else "apnews", n) for n in names}
        ids = add_sources(batched, clock, *urls.values())
        assert add_sources(reference, clock, *urls.values()) == ids
        recovers = [ids[names.index("recovers")]]
        for home in homes:
            asyncio.run(_check_each(home, clock, ids))
        site.set_status(urls["recovers"], 404)
        clock.advance(timedelta(hours=6))
        for home in homes:
            asyncio.run(_check_each(home, clock, recovers))
        site.restore(urls["recovers"])  # the same bytes again: a 304 to its validators
        site.redirect(urls["moved"], publish(site, "apnews", "moved-here"), code=308)
        site.set_status(urls["gone"], 404)
        site.edit(urls["edited"], paragraphs=[PARAGRAPHS[0].replace("300 million", "350 million"),
                                              *PARAGRAPHS[1:]])
        clock.advance(timedelta(hours=6))
        together, alone = [], []
        for home, changes in zip(homes, (together, alone), strict=True):
            site.flaky(urls["busy"], statuses=[503], retry_after=120)
            changes.extend(asyncio.run(_check_each(home, clock, ids, _Collect())))
    asyncio.run(_commit_together(batched, together))
    for change, _ in alone:
        with session(reference.engine) as db:
            change(db)
            db.flush()  # the ORM writes every change before run_batched sees them
            run_batched(db)
            db.commit()
    try:
        assert _rows(batched) == _rows(reference)
        assert {e.kind for e in events_of(batched)} >= {"failing", "moved", "changed", "recovered"}
        assert _rows(batched)["host"][0]["backoff_reason"].startswith("503")
    finally:
        batched.engine.dispose()
        reference.engine.dispose()


def test_an_extraction_that_reads_the_current_version_writes_what_record_content_writes(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pages whose visible chrome churns are extracted on every check and usually read the
    current version again: such a check takes the batched seen-again rows. With that turned
    off, record_content compares and writes through the ORM; every row is the same, for an
    unchanged article, an edit and a flip-flop back to it."""
    import monitor.check

    monkeypatch.setenv("MONITOR_HEALTH__PROBE", "false")
    batched, reference = open_home(tmp_path / "batched"), open_home(tmp_path / "reference")
    compared: dict[str, int] = {}
    record_content = monitor.check.record_content

    def counted(*args: Any) -> Any:
        compared[name] = compared.get(name, 0) + 1
        return record_content(*args)

    monkeypatch.setattr(monitor.check, "record_content", counted)
    with NewsSite(outlets=["apnews", "cnn"]) as site:
        urls = [publish(site, "apnews", "churns"), publish(site, "cnn", "edited")]
        for name, home in (("batched", batched), ("reference", reference)):
            if name == "reference":
                monkeypatch.setattr(monitor.check, "_seen_again",  # the rule without extractions
                                    lambda kept, found, *_: kept.repeated or found.kind == "fingerprint")
            run_clock = ManualClock(clock.now())
            ids = add_sources(home, run_clock, *urls)
            for step in ("first", "same", "edit", "same", "back", "same"):
                if step == "edit":
                    site.edit(urls[1], paragraphs=[PARAGRAPHS[0].replace("300 million", "350 million"),
                                                   *PARAGRAPHS[1:]])
                elif step == "back":
                    site.edit(urls[1], paragraphs=PARAGRAPHS)
                run_clock.advance(timedelta(hours=6))
                asyncio.run(_check_each(home, run_clock, ids))
            site.edit(urls[1], paragraphs=PARAGRAPHS)
    try:
        # the first versions, the edit, the flip-flop and a day's full copy (a response record,
        # whose row the source points to) go through record_content; the other 7 checks do not
        assert compared == {"batched": 5, "reference": 12}
        assert _served(_rows(batched)) == _served(_rows(reference))
        assert [e.kind for e in events_of(batched)] == ["archived", "archived", "changed", "flipflop"]
        assert [v["seen_count"] for v in _rows(batched)["version"]] == [6, 4, 2]
    finally:
        batched.engine.dispose()
        reference.engine.dispose()


# what follows from the bytes served (the chrome is random on every request) or the schedule's jitter
_RANDOM = frozenset({"payload_digest", "content_length", "last_payload_digest", "next_check_at"})


def _served(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """``rows`` without what differs from one serving of a churning page to the next (an input
    digest is named by whether there is one)."""
    return {table: [{key: (value is not None if key == "extract_input_digest" else value)
                     for key, value in row.items() if key not in _RANDOM} for row in found]
            for table, found in rows.items()}


async def _check_each(home: Home, clock: ManualClock, ids: list[int],
                      collect: _Collect | None = None) -> list[tuple[Callable[[Session], Any], list[Any]]]:
    """Check the sources one after the other (committing each, or collecting the changes)."""
    async with checking(home, clock) as ctx:
        for source_id in ids:
            await check_source(ctx, source_id, committer=collect)  # type: ignore[arg-type]
    if collect is None:
        return []
    ctx.rng.seed(1)  # the changes draw the schedule's jitter from it: the same in both homes
    return collect.changes


async def _commit_together(home: Home, changes: list[tuple[Callable[[Session], Any], list[Any]]]) -> None:
    committer = GroupCommit(home.engine, window=0.05)
    await asyncio.gather(*(committer.submit(change, preload) for change, preload in changes))
    assert committer.batches == 1 and committer.retried == 0


# where a home's archive put the records, and how long a fetch took
_PER_ARCHIVE = frozenset({"elapsed_ms", "record_id", "warc_file", "warc_offset", "warc_length",
                          "request_offset", "request_length"})


def _rows(home: Home) -> dict[str, list[dict[str, Any]]]:
    """The rows checks write. A capture is named by its source and time, not its id: a batch's
    repeats get theirs after the other checks' captures, which are flushed as they are made."""
    with session(home.engine) as db:
        named = {c.id: (c.source_id, c.at) for c in db.exec(select(Capture)).all()}

        def rows(model: Any, *order: Any, ids: tuple[str, ...] = (),
                 drop: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
            found = [row.model_dump(exclude=drop) for row in db.exec(select(model).order_by(*order))]
            for row in found:
                row.update({key: named.get(row[key]) for key in ids})
                if "capture_id" in row.get("details", {}):
                    row["details"]["capture_id"] = named[row["details"]["capture_id"]]
            return found

        return {
            "source": rows(Source, col(Source.id), ids=("last_response_capture_id", "validators_capture_id")),
            "host": rows(Host, col(Host.host)),
            "version": rows(Version, col(Version.id), ids=("capture_id",)),
            "capture": rows(Capture, col(Capture.source_id), col(Capture.at),
                            ids=("id", "refers_to_capture_id"), drop=_PER_ARCHIVE),
            "event": rows(Event, col(Event.source_id), col(Event.at), col(Event.kind),
                          drop=frozenset({"id"})),
        }
