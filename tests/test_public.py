"""Public copies: Save Page Now submissions after a pass, Memento aggregator lookups,
``monitor diff --from cited`` and ``monitor restore --public``.

Everything runs against local imitations (tests/site/public.py) of the Internet Archive
and of a TimeTravel-style aggregator, which fetch from the imitation news site.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import PublicCopy, Version
from tests.conftest import add_sources, events_of, one_pass, publish
from tests.site import InternetArchive, MementoAggregator, NewsSite

CORRECTION = ("Correction: an earlier version of this article misstated the number of new users, "
              "which was 700,000, not 7 million.")


@pytest.fixture
def archive_org(clock: ManualClock) -> Iterator[InternetArchive]:
    """The Internet Archive imitation, dating its captures by the test's clock."""
    with InternetArchive(clock=clock.now) as archive:
        yield archive


@pytest.fixture
def aggregator(archive_org: InternetArchive) -> Iterator[MementoAggregator]:
    with MementoAggregator(archive_org) as service:
        yield service


@pytest.fixture
def spn_home(home_dir: Path, archive_org: InternetArchive,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """A home that submits new versions to the imitation's Save Page Now."""
    for key, value in archive_org.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MONITOR_PUBLIC__SPN_WAIT", "10s")
    opened = open_home(home_dir)
    yield opened
    opened.engine.dispose()


def copies_of(home: Home) -> list[PublicCopy]:
    with session(home.engine) as db:
        return list(db.exec(select(PublicCopy).order_by(col(PublicCopy.id))).all())


def version_numbers(home: Home, rows: list[PublicCopy]) -> list[int]:
    with session(home.engine) as db:
        return [v.number for row in rows if (v := db.get(Version, row.version_id)) is not None]


# --- Save Page Now ------------------------------------------------------------------------------


def test_each_new_version_gets_one_public_copy(
    site: NewsSite, spn_home: Home, clock: ManualClock, archive_org: InternetArchive
) -> None:
    url = publish(site, "reuters", "rednote-spn")  # a static outlet: the same bytes every time
    ids = add_sources(spn_home, clock, url)

    summary = one_pass(spn_home, clock, ids)

    assert "public copies: 1 saved" in summary.line()
    [row] = copies_of(spn_home)
    stamp = clock.now().strftime("%Y%m%d%H%M%S")
    assert (row.status, row.attempts, row.url) == ("saved", 1, url)
    assert row.uri_m == f"{archive_org.base_url}/web/{stamp}/{url}"
    assert row.memento_at == clock.now().replace(microsecond=0)
    [save] = archive_org.saves
    assert save["authorization"] == "LOW test-key:test-secret"
    assert save["user-agent"].startswith("source-monitor/")
    assert "mailto:tests@example.org" in save["user-agent"]
    replayed = httpx.get(f"{archive_org.base_url}/web/{stamp}id_/{url}")
    assert replayed.content == site.last_body(url)  # the archive fetched the page itself

    one_pass(spn_home, clock, ids)  # unchanged: nothing new to submit
    assert len(archive_org.saves) == 1

    site.edit(url, append=CORRECTION)
    summary = one_pass(spn_home, clock, ids)
    assert "public copies: 1 saved" in summary.line()
    rows = copies_of(spn_home)
    assert [r.status for r in rows] == ["saved", "saved"]
    assert version_numbers(spn_home, rows) == [1, 2]
    assert len(archive_org.saves) == 2


def test_refused_submissions_are_retried_with_back_off_and_saved_once(
    site: NewsSite, spn_home: Home, clock: ManualClock, archive_org: InternetArchive
) -> None:
    url = publish(site, "apnews", "rednote-busy")
    ids = add_sources(spn_home, clock, url)
    archive_org.refuse(429)
    archive_org.refuse(502)

    summary = one_pass(spn_home, clock, ids)
    assert [e.kind for e in events_of(spn_home)] == ["archived"]  # the check itself is untouched
    [row] = copies_of(spn_home)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "429" in (row.last_error or "") and "public copies: 1 failed" in summary.line()
    assert row.next_attempt_at == clock.now() + timedelta(minutes=30)  # public.spn_backoff

    one_pass(spn_home, clock, ids, advance=timedelta(minutes=10))  # too soon: not retried
    assert len(archive_org.saves) == 1

    one_pass(spn_home, clock, ids, advance=timedelta(minutes=21))  # the 5xx: back-off doubles
    [row] = copies_of(spn_home)
    assert (row.status, row.attempts) == ("failed", 2) and "502" in (row.last_error or "")
    assert row.next_attempt_at == clock.now() + timedelta(hours=1)

    one_pass(spn_home, clock, ids, advance=timedelta(hours=1))
    [row] = copies_of(spn_home)
    assert (row.status, row.attempts, row.last_error) == ("saved", 3, None)

    one_pass(spn_home, clock, ids)
    one_pass(spn_home, clock, ids)
    assert len(archive_org.saves) == 3 and len(archive_org.snapshots(url)) == 1


def test_a_job_still_running_is_asked_about_on_the_next_pass_not_resubmitted(
    site: NewsSite, spn_home: Home, clock: ManualClock, archive_org: InternetArchive,
    monkeypatch: pytest.MonkeyPatch, home_dir: Path,
) -> None:
    monkeypatch.setenv("MONITOR_PUBLIC__SPN_WAIT", "0s")
    home = open_home(home_dir)
    url = publish(site, "apnews", "rednote-slow")
    ids = add_sources(home, clock, url)

    summary = one_pass(home, clock, ids)
    [row] = copies_of(home)
    assert row.status == "pending" and row.job_id and "public copies: 1 pending" in summary.line()

    one_pass(home, clock, ids)
    [row] = copies_of(home)
    assert row.status == "saved" and row.attempts == 1
    assert len(archive_org.saves) == 1 and archive_org.polls == 2
    home.engine.dispose()


def test_a_failed_job_is_retried_and_a_superseded_version_is_not(
    site: NewsSite, spn_home: Home, clock: ManualClock, archive_org: InternetArchive
) -> None:
    url = publish(site, "apnews", "rednote-fail")
    ids = add_sources(spn_home, clock, url)
    archive_org.fail_jobs("error:not-found")

    one_pass(spn_home, clock, ids)
    [row] = copies_of(spn_home)
    assert row.status == "failed" and "error:not-found" in (row.last_error or "")

    site.edit(url, append=CORRECTION)  # version 2 appears before version 1 could be retried
    one_pass(spn_home, clock, ids)
    first, second = copies_of(spn_home)
    assert first.status == "failed" and first.next_attempt_at is None
    assert "superseded: the page now shows version 2" in (first.last_error or "")
    assert second.status == "saved"
    assert len(archive_org.saves) == 2  # version 1 was not submitted again


def test_bad_keys_or_an_unreachable_spn_never_break_a_check(
    site: NewsSite, clock: ManualClock, archive_org: InternetArchive, home_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in archive_org.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MONITOR_PUBLIC__SPN_SECRET", "wrong")
    home = open_home(home_dir)
    first, second = (publish(site, "apnews", f"rednote-keys-{n}") for n in (1, 2))
    ids = add_sources(home, clock, first, second)

    summary = one_pass(home, clock, ids)
    assert summary.checked == 2 and summary.errors == 0
    assert [e.kind for e in events_of(home)] == ["archived", "archived"]
    rows = copies_of(home)
    assert [r.attempts for r in rows] == [1, 0]  # refused as a whole: the second waits, untried
    assert "SPN refused our keys (401)" in (rows[0].last_error or "")
    assert "not submitted yet" in (rows[1].last_error or "")
    assert rows[1].next_attempt_at == rows[0].next_attempt_at
    home.engine.dispose()

    archive_org.stop()  # now nothing listens there
    home = open_home(home_dir)
    site.edit(first, append=CORRECTION)
    summary = one_pass(home, clock, ids[:1])
    assert summary.errors == 0 and [e.kind for e in events_of(home)][-1] == "changed"
    old_first, old_second, new_first = copies_of(home)
    assert "superseded" in (old_first.last_error or "")
    assert old_second.status == "failed" and "SPN unreachable at" in (old_second.last_error or "")
    assert "not submitted yet: SPN unreachable" in (new_first.last_error or "")
    home.engine.dispose()
