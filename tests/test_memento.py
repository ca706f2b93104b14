"""``monitor timemap``: a Memento TimeMap (RFC 7089) for every archived URL, read back with
a small strict parser written here (and with the aggregator client's parser), checked
against the captures in the database.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from sqlmodel import col, select

from monitor.archive.linkformat import parse_links
from monitor.clock import ManualClock
from monitor.home import Home
from monitor.store import session
from monitor.store.models import Capture
from tests.conftest import add_sources, one_pass, publish, run_cli
from tests.site import NewsSite

REPLAY = "http://localhost:8080/monitor/"
_ENTRY = re.compile(r'<([^<>]*)>((?:\s*;\s*[a-z]+="[^"]*")+)\s*(?:,\s*|$)')
_PARAM = re.compile(r';\s*([a-z]+)="([^"]*)"')


def parse_timemap(text: str) -> list[tuple[str, dict[str, str]]]:
    """Strict reading of what we write: ``<uri>; name="value"…`` entries separated by commas."""
    entries, position = [], 0
    while position < len(text.rstrip("\n")):
        match = _ENTRY.match(text, position)
        assert match is not None, f"not link-format at {position}: {text[position:position + 60]!r}"
        entries.append((match.group(1), dict(_PARAM.findall(match.group(2)))))
        position = match.end()
    return entries


def _rfc1123(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _captures(home: Home, sid: int) -> list[Capture]:
    with session(home.engine) as db:
        query = (select(Capture).where(col(Capture.source_id) == sid)
                 .order_by(col(Capture.at), col(Capture.id)))
        return list(db.exec(query).all())


def test_timemap_lists_every_replayable_capture_with_its_uri_m(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock
) -> None:
    url = publish(site, "apnews", "churning-story")
    [sid] = add_sources(home, clock, url)
    one_pass(home, clock, [sid])
    site.edit(url, headline="The great social media migration")
    one_pass(home, clock, [sid])
    one_pass(home, clock, [sid], advance=timedelta(hours=1))  # unchanged: a compact record
    site.set_status(url, 404)
    one_pass(home, clock, [sid])
    captures = _captures(home, sid)
    assert [c.record_type for c in captures] == ["response", "response", "metadata", "response"]
    replayable = [c for c in captures if c.record_type in ("response", "revisit")]

    result = run_cli(home_dir, "timemap", url)
    assert result.code == 0, result.err
    entries = parse_timemap(result.out)
    (original, o), (self_uri, s), (gate, g), *mementos = entries
    assert (original, o) == (url, {"rel": "original"})
    assert self_uri == f"{REPLAY}timemap/link/{url}"
    assert s == {"rel": "self", "type": "application/link-format",
                 "from": _rfc1123(replayable[0].at), "until": _rfc1123(replayable[-1].at)}
    assert (gate, g) == (f"{REPLAY}{url}", {"rel": "timegate"})
    assert [(uri, p["datetime"]) for uri, p in mementos] == [
        (f"{REPLAY}{c.at:%Y%m%d%H%M%S}/{url}", _rfc1123(c.at)) for c in replayable]
    assert [p["rel"] for _, p in mementos] == ["first memento", "memento", "last memento"]
    for (_, params), capture in zip(mementos, replayable, strict=True):
        assert parsedate_to_datetime(params["datetime"]) == capture.at.replace(microsecond=0)

    read = parse_links(result.out)  # the aggregator client reads it the same way
    assert [link.uri for link in read] == [uri for uri, _ in entries]
    assert [link.at for link in read[3:]] == [c.at.replace(microsecond=0) for c in replayable]


def test_timemap_finds_a_url_in_every_form_and_a_revisit_is_a_memento(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock
) -> None:
    static = publish(site, "reuters", "static")
    old = publish(site, "cnn", "old-slug")
    ids = add_sources(home, clock, static, old)
    one_pass(home, clock, ids)
    new = publish(site, "cnn", "new-slug")
    site.redirect(old, new, code=301)
    one_pass(home, clock, ids)
    assert [c.record_type for c in _captures(home, ids[0])] == ["response", "revisit"]

    env = {"MONITOR_ARCHIVE__REPLAY_URL": "https://replay.example/archive"}
    plain = run_cli(home_dir, "timemap", static, env=env).out
    variant = run_cli(home_dir, "timemap", static.upper().replace("/ARTICLE/STATIC", "/article/static")
                      + "?utm_source=newsletter#top", env=env)
    assert variant.code == 0 and variant.out == plain
    revisit = _captures(home, ids[0])[1]
    assert [uri for uri, p in parse_timemap(plain) if "memento" in p["rel"].split()] == [
        f"https://replay.example/archive/{c.at:%Y%m%d%H%M%S}/{static}" for c in _captures(home, ids[0])]
    assert f'<https://replay.example/archive/{revisit.at:%Y%m%d%H%M%S}/{static}>; rel="last memento"' \
        in plain

    moved = run_cli(home_dir, "timemap", old)  # the URL the source had before it moved
    assert moved.code == 0, moved.err
    entries = parse_timemap(moved.out)
    assert entries[0] == (new, {"rel": "original"})
    assert [uri.rsplit("/", 1)[-1] for uri, p in entries[3:]] == ["old-slug", "new-slug"]

    target = home_dir / "maps" / "static.link"
    written = run_cli(home_dir, "timemap", static, "-o", str(target), env=env)
    assert written.code == 0 and "2 mementos" in written.out
    assert target.read_text() == plain


def test_timemap_of_an_unknown_or_never_archived_url_is_one_line_and_exit_1(
    site: NewsSite, home: Home, home_dir: Path, clock: ManualClock
) -> None:
    never = publish(site, "apnews", "never")
    site.set_status(never, 404)
    site.outage(True, "apnews")
    [sid] = add_sources(home, clock, never)
    one_pass(home, clock, [sid])
    for url, message in (("https://unknown.example/story", "is not an archived URL"),
                         (never, "nothing of")):
        result = run_cli(home_dir, "timemap", url)
        assert result.code == 1 and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1 and result.out == ""
