"""Public copies: Save Page Now submissions after a pass, Memento aggregator lookups,
``monitor diff --from cited`` and ``monitor restore --public``.

Everything runs against local imitations (tests/site/public.py) of the Internet Archive
and of a TimeTravel-style aggregator, which fetch from the imitation news site.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from monitor.archive.linkformat import LinkFormatError, parse_links
from monitor.archive.public import Memento, MementoLookup, PublicArchiveError
from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.settings import Settings
from monitor.store import session
from monitor.store.models import PublicCopy, Version
from tests.conftest import add_sources, events_of, one_pass, publish, run_cli
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
    """Every PublicCopy row, by source then version."""
    with session(home.engine) as db:
        return list(db.exec(select(PublicCopy).order_by(col(PublicCopy.source_id),
                                                         col(PublicCopy.version_id))).all())


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
    status = run_cli(spn_home.settings.home, "status", str(ids[0]))
    assert f"public copy  {rows[1].uri_m} (captured {clock.now():%Y-%m-%dT%H:%M:%SZ})" in status.out


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
    status = run_cli(spn_home.settings.home, "status", str(ids[0]))
    assert "public copy  failed after 2 attempt(s): SPN answered 502; next try" in status.out

    one_pass(spn_home, clock, ids, advance=timedelta(hours=1))
    [row] = copies_of(spn_home)
    assert (row.status, row.attempts, row.last_error) == ("saved", 3, None)

    one_pass(spn_home, clock, ids)
    one_pass(spn_home, clock, ids)
    assert len(archive_org.saves) == 3 and len(archive_org.snapshots(url)) == 1


def test_spn_wait_bounds_a_pass_and_the_rest_is_done_on_the_next(
    site: NewsSite, clock: ManualClock, archive_org: InternetArchive,
    monkeypatch: pytest.MonkeyPatch, home_dir: Path,
) -> None:
    for key, value in archive_org.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MONITOR_PUBLIC__SPN_WAIT", "0s")  # one submission and one poll per pass
    home = open_home(home_dir)
    urls = [publish(site, "apnews", f"rednote-slow-{n}") for n in (1, 2)]
    ids = add_sources(home, clock, *urls)

    summary = one_pass(home, clock, ids)
    submitted, queued = sorted(copies_of(home), key=lambda r: r.job_id is None)
    assert submitted.status == queued.status == "pending"
    assert submitted.job_id and queued.job_id is None and queued.attempts == 0
    assert "public copies: 2 pending" in summary.line()

    one_pass(home, clock, [])  # still running jobs are asked about again, not resubmitted
    one_pass(home, clock, [])
    assert [r.status for r in copies_of(home)] == ["saved", "saved"]
    assert [r.attempts for r in copies_of(home)] == [1, 1]
    assert len(archive_org.saves) == 2
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
    tried, untried = sorted(copies_of(home), key=lambda r: -r.attempts)
    assert (tried.attempts, untried.attempts) == (1, 0)  # refused as a whole: the other waits
    assert "SPN refused our keys (401)" in (tried.last_error or "")
    assert "not submitted yet" in (untried.last_error or "")
    assert untried.next_attempt_at == tried.next_attempt_at
    home.engine.dispose()

    archive_org.stop()  # now nothing listens there
    home = open_home(home_dir)
    site.edit(first, append=CORRECTION)
    summary = one_pass(home, clock, ids[:1])
    assert summary.errors == 0 and [e.kind for e in events_of(home)][-1] == "changed"
    old_first, new_first, old_second = copies_of(home)  # by source, then version
    assert "superseded: the page now shows version 2" in (old_first.last_error or "")
    errors = sorted([new_first.last_error or "", old_second.last_error or ""])
    assert errors[0].startswith("SPN unreachable at") and errors[1].startswith("not submitted yet: SPN")
    home.engine.dispose()


# --- the Memento aggregator ---------------------------------------------------------------------


def lookup_settings(aggregator: str) -> Settings:
    return Settings(public={"aggregator": aggregator}, fetch={"timeout": "3s"})


def test_public_copies_are_found_through_the_aggregator(
    site: NewsSite, archive_org: InternetArchive, aggregator: MementoAggregator
) -> None:
    url = publish(site, "apnews", "rednote-lookup")
    older = archive_org.seed_live(url, datetime(2025, 1, 10, 9, 0, tzinfo=UTC))
    site.edit(url, append=CORRECTION)
    newer = archive_org.seed_live(url, datetime(2025, 1, 12, 9, 0, tzinfo=UTC))

    async def look() -> tuple[list[Memento], Memento | None, bytes, list[Memento]]:
        async with MementoLookup(lookup_settings(aggregator.prefix)) as lookup:
            copies = await lookup.find_public_copies(url)
            near = await lookup.nearest_public_copy(url, datetime(2025, 1, 11, 18, 0, tzinfo=UTC))
            assert near is not None
            return copies, near, await lookup.fetch_raw(near), \
                await lookup.find_public_copies(url + "-never-archived")

    copies, near, raw, none = asyncio.run(look())
    assert [c.at for c in copies] == [older.at, newer.at]
    assert copies[0].uri == f"{archive_org.base_url}/web/20250110090000/{url}"
    assert copies[0].raw_uri == f"{archive_org.base_url}/web/20250110090000id_/{url}"
    assert near == copies[1] and raw == newer.body  # the raw bytes: no replay banner
    assert none == []


def test_a_broken_aggregator_is_one_clear_error(aggregator: MementoAggregator) -> None:
    async def look(prefix: str) -> str:
        async with MementoLookup(lookup_settings(prefix)) as lookup:
            with pytest.raises(PublicArchiveError) as caught:
                await lookup.find_public_copies("http://example.org/a")
            return str(caught.value)

    aggregator.garble()
    assert "sent no TimeMap" in asyncio.run(look(aggregator.prefix))
    aggregator.stop()
    assert "unreachable" in asyncio.run(look(aggregator.prefix))


def test_link_format_reads_timemaps_with_awkward_uris() -> None:
    text = ('<http://a.example/x?q=1,2;b>;rel="original",\n'
            ' <http://arch.example/web/20250110090000/http://a.example/x?q=1,2;b> ; '
            'rel="first memento" ; datetime="Fri, 10 Jan 2025 09:00:00 GMT",'
            '<http://arch.example/tm>;rel=self;type="application/link-format"')
    original, memento, timemap = parse_links(text)
    assert original.uri == "http://a.example/x?q=1,2;b" and original.rels == {"original"}
    assert memento.rels == {"first", "memento"}
    assert memento.at == datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
    assert timemap.params == {"rel": "self", "type": "application/link-format"}
    with pytest.raises(LinkFormatError, match="expected <URI> at character 0"):
        parse_links("Service temporarily down")
    with pytest.raises(LinkFormatError, match="expected ',' at character 6"):
        parse_links("<html><body>Service down</body></html>")


# --- diff --from cited and restore --public -----------------------------------------------------


def test_diff_from_cited_uses_our_version_current_then(
    site: NewsSite, home: Home, clock: ManualClock, archive_org: InternetArchive,
    aggregator: MementoAggregator, home_dir: Path,
) -> None:
    url = publish(site, "apnews", "rednote-cited-ours")
    ids = add_sources(home, clock, url)
    one_pass(home, clock, ids)  # 2025-01-15T18:00: version 1
    one_pass(home, clock, ids)  # 2025-01-16T00:00: version 1 again
    site.edit(url, append=CORRECTION)
    # a public copy nearer the citation, but we know what the page said then
    archive_org.seed_live(url, datetime(2025, 1, 16, 3, 0, tzinfo=UTC))
    one_pass(home, clock, ids)  # 2025-01-16T06:00: version 2

    env = {"MONITOR_PUBLIC__AGGREGATOR": aggregator.prefix}
    added = run_cli(home_dir, "add", url, "--cited-at", "2025-01-16T03:00")
    assert added.out.strip() == f"already watched: #1 {url} (cited at 2025-01-16T03:00:00Z)"
    result = run_cli(home_dir, "diff", str(ids[0]), "--from", "cited", env=env)

    assert result.code == 0, result.err
    assert ("cited 2025-01-16T03:00:00Z: our version 1 (captured 2025-01-16T00:00:00Z) → version 2"
            in result.out)
    assert "{+Correction: an earlier version" in result.out
    assert aggregator.lookups == []  # ours was current at cited_at: no need to ask
    status = run_cli(home_dir, "status", str(ids[0]))
    assert "cited at  2025-01-16T03:00:00Z" in status.out


def test_diff_from_cited_before_our_first_capture_uses_the_nearest_public_copy(
    site: NewsSite, home: Home, clock: ManualClock, archive_org: InternetArchive,
    aggregator: MementoAggregator, home_dir: Path,
) -> None:
    url = publish(site, "apnews", "rednote-cited-public")
    archive_org.seed_live(url, datetime(2025, 1, 10, 9, 0, tzinfo=UTC))
    site.edit(url, append=CORRECTION)
    ids = add_sources(home, clock, url)
    one_pass(home, clock, ids)  # 2025-01-15T18:00: version 1, with the correction
    env = {"MONITOR_PUBLIC__AGGREGATOR": aggregator.prefix}
    assert run_cli(home_dir, "add", url, "--cited-at", "2025-01-10T09:30Z").code == 0

    result = run_cli(home_dir, "diff", url, "--from", "cited", "--plain", env=env)

    assert result.code == 0, result.err
    assert (f"cited 2025-01-10T09:30:00Z: public copy {archive_org.base_url.removeprefix('http://')}, "
            f"captured 2025-01-10T09:00:00Z: {archive_org.base_url}/web/20250110090000/{url} → "
            "version 1") in result.out
    assert "{+Correction: an earlier version" in result.out
    assert "Wayback Machine imitation" not in result.out  # fetched raw (id_), not the replay page

    # our first capture is nearer than any public copy: ours
    assert run_cli(home_dir, "add", url, "--cited-at", "2025-01-15T17:00Z").code == 0
    result = run_cli(home_dir, "diff", url, "--from", "cited", env=env)
    assert "cited 2025-01-15T17:00:00Z: our version 1 (captured 2025-01-15T18:00:00Z)" in result.out


def test_diff_from_cited_says_why_no_public_copy_was_used(
    site: NewsSite, home: Home, clock: ManualClock, archive_org: InternetArchive,
    aggregator: MementoAggregator, home_dir: Path,
) -> None:
    url = publish(site, "apnews", "rednote-cited-fallback")
    archive_org.seed_live(url, datetime(2025, 1, 10, 9, 0, tzinfo=UTC))
    ids = add_sources(home, clock, url)
    one_pass(home, clock, ids)
    assert run_cli(home_dir, "add", url, "--cited-at", "2025-01-10T09:00").code == 0
    ours = "cited 2025-01-10T09:00:00Z: our version 1 (captured 2025-01-15T18:00:00Z)"

    off = run_cli(home_dir, "diff", url, "--from", "cited",
                  env={"MONITOR_PUBLIC__LOOKUP": "false", "MONITOR_PUBLIC__AGGREGATOR": aggregator.prefix})
    assert off.code == 0 and ours in off.out
    assert off.err.strip() == "note: public lookup is off (public.lookup)"

    aggregator.stop()
    down = run_cli(home_dir, "diff", url, "--from", "cited",
                   env={"MONITOR_PUBLIC__AGGREGATOR": aggregator.prefix})
    assert down.code == 0 and ours in down.out
    [note] = down.err.strip().splitlines()
    assert note.startswith(f"note: Memento aggregator {aggregator.prefix} unreachable")

    without = publish(site, "apnews", "rednote-uncited")
    add_sources(home, clock, without)
    missing = run_cli(home_dir, "diff", without, "--from", "cited")
    assert missing.code == 2 and "Traceback" not in missing.err
    assert f"#2 {without} has no cited_at" in missing.err
    bad = run_cli(home_dir, "diff", url, "--from", "yesterday")
    assert bad.code == 2 and "--from must be a version number or 'cited'" in bad.err


def test_bad_public_settings_are_one_line(home_dir: Path) -> None:
    bad_url = run_cli(home_dir, "status", env={"MONITOR_PUBLIC__AGGREGATOR": "timetravel.example"})
    assert bad_url.code == 2 and "public.aggregator: not an http(s) URL" in bad_url.err
    no_keys = run_cli(home_dir, "status", env={"MONITOR_PUBLIC__SAVE_PAGE_NOW": "true"})
    assert no_keys.code == 2 and "save_page_now needs spn_access_key and spn_secret" in no_keys.err
    assert len(bad_url.err.strip().splitlines()) == len(no_keys.err.strip().splitlines()) == 1


def test_restore_public_brings_back_a_link_that_died_before_we_first_saw_it(
    site: NewsSite, home: Home, clock: ManualClock, archive_org: InternetArchive,
    aggregator: MementoAggregator, home_dir: Path,
) -> None:
    url = publish(site, "apnews", "rednote-died-early")
    early = archive_org.seed_live(url, datetime(2025, 1, 10, 9, 0, tzinfo=UTC))
    site.edit(url, append=CORRECTION)
    later = archive_org.seed_live(url, datetime(2025, 1, 12, 9, 0, tzinfo=UTC))
    site.set_status(url, 404)
    ids = add_sources(home, clock, url)
    one_pass(home, clock, ids)  # a 404: nothing of ours to restore
    env = {"MONITOR_PUBLIC__AGGREGATOR": aggregator.prefix}

    ours = run_cli(home_dir, "restore", str(ids[0]), env=env)
    assert ours.code == 2 and "no archived copy" in ours.err and "--public" in ours.err

    out = home_dir / "restored" / "rednote.html"
    newest = run_cli(home_dir, "restore", str(ids[0]), "--public", "-o", str(out), env=env)
    assert newest.code == 0, newest.err
    assert out.read_bytes() == later.body  # the exact bytes the archive holds, no replay banner
    host = archive_org.base_url.removeprefix("http://")
    assert (f"wrote {out}: public copy of #1 {url} from {host}, captured 2025-01-12T09:00:00Z "
            f"({archive_org.base_url}/web/20250112090000/{url}), {len(later.body)} bytes") in newest.out

    assert run_cli(home_dir, "add", url, "--cited-at", "2025-01-11").code == 0
    cited = run_cli(home_dir, "restore", url, "--public", env=env)  # to stdout, nearest cited_at
    assert cited.code == 0 and cited.out.encode() == early.body
    assert "captured 2025-01-10T09:00:00Z" in cited.err
    at = run_cli(home_dir, "restore", url, "--public", "--at", "2025-01-13", "-o", str(out), env=env)
    assert at.code == 0 and out.read_bytes() == later.body

    text = run_cli(home_dir, "restore", url, "--public", "--as", "text", env=env)
    assert text.code == 2 and "use --as html" in text.err
    other = publish(site, "cnn", "never-archived")
    add_sources(home, clock, other)
    none = run_cli(home_dir, "restore", other, "--public", env=env)
    assert none.code == 2 and f"no public copy of {other}" in none.err and "Traceback" not in none.err
    bad_time = run_cli(home_dir, "add", "http://example.org/story", "--cited-at", "last week")
    assert bad_time.code == 2 and "--cited-at: not an ISO 8601 time: 'last week'" in bad_time.err
