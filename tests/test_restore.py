"""Getting copies back: ``restore --all`` into a folder with an index, ``--as readable``,
and copies that stand on compact captures (metadata record, row only) or 304 revisits.

Archives are built by real checks of the local news site; restores run the real CLI.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from lxml import html as lxml_html
from sqlmodel import col, select

from monitor.archive.restore import find_copy, html_bytes, readable_html
from monitor.clock import ManualClock, iso
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import Capture
from tests.conftest import PARAGRAPHS, add_sources, one_pass, publish, run_cli, source_row
from tests.site import NewsSite


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def _index_rows(folder: Path) -> dict[str, lxml_html.HtmlElement]:
    """The index page's rows by their id (``source-<n>``)."""
    page = lxml_html.fromstring((folder / "index.html").read_bytes())
    return {row.get("id"): row for row in page.iterfind(".//tbody/tr")}


def test_restore_all_restores_every_source_as_of_a_time_and_names_the_missing(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock
) -> None:
    story, steady = publish(site, "apnews", "tiktok-refugees"), publish(site, "reuters", "steady.html")
    dead = publish(site, "cnn", "gone-early")
    site.set_status(dead, 404)
    ids = add_sources(home, clock, story, steady, dead)
    one_pass(home, clock, ids)
    first_at, first_story, first_steady = clock.now(), site.last_body(story), site.last_body(steady)
    assert run_cli(home_dir, "pause", str(ids[1])).code == 0
    site.edit(story, headline="The great social media migration")
    one_pass(home, clock, ids)
    second_at, second_story = clock.now(), site.last_body(story)
    [late] = add_sources(home, clock, publish(site, "cnn", "added-later"))
    one_pass(home, clock, [late])

    out = home_dir / "copies"
    result = run_cli(home_dir, "restore", "--all", "--at", iso(second_at) or "", "-o", str(out))
    assert result.code == 1, result.err  # some sources had nothing at that time
    names = ["0001-127.0.0.1-tiktok-refugees.html", "0002-127.0.0.1-steady.html"]
    assert _files(out) == [*names, "index.html"]
    assert (out / names[0]).read_bytes() == second_story
    assert (out / names[1]).read_bytes() == first_steady  # paused after its first copy
    assert "2 of 4 sources restored" in result.out
    assert f"nothing restored for #{ids[2]}" in result.out and f"nothing restored for #{late}" in result.out

    rows = _index_rows(out)
    assert list(rows) == [f"source-{n}" for n in (*ids, late)]  # every source, none skipped
    first, paused, missing = (rows[f"source-{n}"] for n in ids)
    assert first.xpath(".//a/@href")[:2] == [names[0], story]
    assert "The great social media migration" in first.text_content()
    assert iso(second_at) in first.text_content() and "alive" in first.text_content()
    assert "paused" in paused.text_content()
    assert dead in missing.text_content() and "nothing restored: no archived copy" in missing.text_content()
    assert "no archived copy" in rows[f"source-{late}"].text_content()

    earlier = home_dir / "earlier"
    assert run_cli(home_dir, "restore", "--all", "--at", iso(first_at) or "", "-o", str(earlier)).code == 1
    assert (earlier / names[0]).read_bytes() == first_story


def test_restore_all_exits_0_when_every_source_has_a_copy(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock
) -> None:
    ids = add_sources(home, clock, publish(site, "apnews", "one"), publish(site, "cnn", "two"))
    one_pass(home, clock, ids)
    out = home_dir / "readable"
    result = run_cli(home_dir, "restore", "--all", "--as", "readable", "-o", str(out))
    assert result.code == 0, result.err
    assert _files(out) == ["0001-127.0.0.1-one.html", "0002-127.0.0.1-two.html", "index.html"]
    assert "Archived copy" in (out / "0001-127.0.0.1-one.html").read_text()
    again = run_cli(home_dir, "restore", "--all", "--as", "text", "-o", str(out))
    assert again.code == 0 and "0001-127.0.0.1-one.txt" in _files(out)


@pytest.mark.parametrize(("args", "message"), [
    (("restore", "--all"), "restore --all needs -o FOLDER"),
    (("restore", "--all", "-o", "config.txt"), "is a file, not a folder"),
    (("restore", "--all", "-o", "archive/out"), "inside the archive"),
    (("restore", "--all", "-o", "archive"), "inside the archive"),
    (("restore", "1", "--all", "-o", "out"), "not both"),
    (("restore",), "name a source"),
    (("restore", "1", "--as", "pdf"), "--as must be html, text, readable or warc"),
])
def test_restore_refuses_bad_targets_in_one_line(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock, args: tuple[str, ...], message: str
) -> None:
    ids = add_sources(home, clock, publish(site, "apnews", "kept"))
    one_pass(home, clock, ids)
    (home_dir / "config.txt").write_text("not a folder")
    before = {p: p.stat().st_size for p in (home_dir / "archive").rglob("*") if p.is_file()}
    result = run_cli(home_dir, *args)
    assert result.code == 2 and message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert (home_dir / "config.txt").read_text() == "not a folder"
    assert {p: p.stat().st_size for p in (home_dir / "archive").rglob("*") if p.is_file()} == before


def test_readable_copy_is_clean_escaped_and_says_what_it_is(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock
) -> None:
    tricky = 'The app\'s slogan, <script>alert("x")</script>, was read as code & mocked by users.'
    url = site.add_article("cnn", "readable", headline="RedNote <b>surges</b>", byline="By Jane Roe",
                           paragraphs=[*PARAGRAPHS, tricky])
    [sid] = add_sources(home, clock, url)
    one_pass(home, clock, [sid])
    first_at = clock.now()
    site.edit(url, headline="RedNote surges as TikTok users flee")
    one_pass(home, clock, [sid])

    result = run_cli(home_dir, "restore", str(sid), "--at", iso(first_at) or "", "--as", "readable")
    assert result.code == 0, result.err
    page = lxml_html.fromstring(result.out.encode())
    banner = page.find_class("banner")[0]
    assert " ".join(banner.text_content().split()).startswith(
        f"Archived copy of {url}, captured at {iso(first_at)}.")
    assert banner.xpath(".//a/@href") == [url]
    assert "changed after this copy was captured" in banner.text_content()
    assert "version 2" in banner.text_content()
    assert page.findtext(".//h1") == "RedNote <b>surges</b>"  # shown as text, not markup
    assert [p.text_content() for p in page.iterfind(".//article/p")][1:] == [*PARAGRAPHS, tricky]
    assert not page.xpath("//script | //img | //iframe | //link | //*[@src] | //b")
    assert "&lt;script&gt;" in result.out

    latest = run_cli(home_dir, "restore", str(sid), "--as", "readable").out
    assert "RedNote surges as TikTok users flee" in latest and "changed after" not in latest


def _captures(home: Home, sid: int) -> list[Capture]:
    with session(home.engine) as db:
        query = select(Capture).where(col(Capture.source_id) == sid).order_by(col(Capture.id))
        return list(db.exec(query).all())


@pytest.mark.parametrize(("compact", "record_type"), [("metadata", "metadata"), ("row", None)])
def test_a_compact_capture_restores_the_response_it_matched(
    site: NewsSite, home_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
    compact: str, record_type: str | None,
) -> None:
    monkeypatch.setenv("MONITOR_ARCHIVE__COMPACT", compact)
    home = open_home(home_dir)
    try:
        url = publish(site, "apnews", "churning")  # its page bytes change on every request
        [sid] = add_sources(home, clock, url)
        one_pass(home, clock, [sid], advance=timedelta(hours=1))
        full_at, full_bytes = clock.now(), site.last_body(url)
        for _ in range(2):
            one_pass(home, clock, [sid], advance=timedelta(hours=1))
        assert site.last_body(url) != full_bytes
        captures = _captures(home, sid)
        assert [c.record_type for c in captures] == ["response", record_type, record_type]
        assert captures[2].refers_to_capture_id == captures[0].id

        archive = home.open_archive()
        with session(home.engine) as db:
            source = source_row(home, sid)
            copy = find_copy(db, source, None)
            assert copy.capture.id == captures[2].id and copy.original.id == captures[0].id
            assert copy.unchanged_since == full_at
            assert html_bytes(archive, copy) == full_bytes
            page = readable_html(db, source, copy)
            assert find_copy(db, source, full_at + timedelta(minutes=30)).capture.id == captures[0].id
        archive.close()
        banner = " ".join(lxml_html.fromstring(page).find_class("banner")[0].text_content().split())
        assert f"captured at {iso(clock.now())} (unchanged since {iso(full_at)})." in banner

        out = run_cli(home_dir, "restore", str(sid), "-o", str(home_dir / "copy.html"))
        assert out.code == 0 and iso(clock.now()) in out.out
        assert (home_dir / "copy.html").read_bytes() == full_bytes
    finally:
        home.engine.dispose()


def test_a_304_revisit_is_a_copy_captured_at_its_own_time(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock
) -> None:
    url = publish(site, "reuters", "static")  # strong validators: the second fetch is a 304
    [sid] = add_sources(home, clock, url)
    one_pass(home, clock, [sid])
    first_at, served = clock.now(), site.last_body(url)
    one_pass(home, clock, [sid])
    assert [(c.status, c.record_type) for c in _captures(home, sid)] == [(200, "response"),
                                                                          (304, "revisit")]
    out = run_cli(home_dir, "restore", "--all", "-o", str(home_dir / "all"))
    assert out.code == 0
    [row] = _index_rows(home_dir / "all").values()
    assert iso(clock.now()) in row.text_content() and f"unchanged since {iso(first_at)}" in row.text_content()
    assert (home_dir / "all" / "0001-127.0.0.1-static.html").read_bytes() == served
