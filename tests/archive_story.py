"""One archive built the real way, for the tests that open it in other tools (replay, export).

Four passes of ``monitor`` over five articles on three outlets of the test site, six
hours apart, so the archive holds every kind of record the service writes: full
responses, a new version after an edit, 304 revisits (the static outlet answers
conditional requests), identical-payload revisits (an unchanged 404 page), compact
captures of a churning but unchanged article, and a redirect followed to a new URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from monitor.archive.warc import WarcArchive
from monitor.check import stored_of
from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import Capture
from tests.conftest import TEST_ENV, add_sources, one_pass, publish
from tests.site import NewsSite


@dataclass(frozen=True)
class Story:
    """The home the passes wrote, the URLs by role, and when each pass ran."""

    home_dir: Path
    urls: dict[str, str]  # edited, steady, static, removed, moved_from, moved_to
    ids: dict[str, int]  # source id by the same roles (moved_to has none)
    passes: list[datetime]

    def captures(self) -> list[Capture]:
        with opened_home(self.home_dir) as home, session(home.engine) as db:
            return list(db.exec(select(Capture).order_by(col(Capture.id))).all())


@contextmanager
def suite_environment() -> Iterator[None]:
    """The suite's settings (see conftest.TEST_ENV) for a fixture wider than one test."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("MONITOR_")]:
            patch.delenv(key)
        for key, value in TEST_ENV.items():
            patch.setenv(key, value)
        yield


@contextmanager
def opened_home(home_dir: Path) -> Iterator[Home]:
    home = open_home(home_dir)
    try:
        yield home
    finally:
        home.engine.dispose()


def write_story(home_dir: Path) -> Story:
    """Run the four passes against a fresh test site; the site is gone when this returns."""
    clock = ManualClock()
    with NewsSite(outlets=["apnews", "cnn", "reuters"], static_outlets=["reuters"]) as site, \
            opened_home(home_dir) as home:
        urls = {
            "edited": publish(site, "apnews", "edited"),
            "steady": publish(site, "apnews", "steady", headline="A steady story"),
            "static": publish(site, "reuters", "static", headline="A static story"),
            "removed": publish(site, "reuters", "removed", headline="A removed story"),
            "moved_from": publish(site, "cnn", "old-slug", headline="A moving story"),
            "moved_to": publish(site, "cnn", "new-slug", headline="A moving story"),
        }
        roles = ["edited", "steady", "static", "removed", "moved_from"]
        ids = dict(zip(roles, add_sources(home, clock, *(urls[r] for r in roles)), strict=True))
        passes = [_pass(home, clock, ids)]
        site.set_status(urls["removed"], 404)
        site.redirect(urls["moved_from"], urls["moved_to"], 301)
        passes.append(_pass(home, clock, ids))
        site.edit(urls["edited"], headline="The great social media migration")
        passes.append(_pass(home, clock, ids))
        passes.append(_pass(home, clock, ids))
    return Story(home_dir, urls, ids, passes)


def _pass(home: Home, clock: ManualClock, ids: dict[str, int]) -> datetime:
    summary = one_pass(home, clock, list(ids.values()))
    assert summary.checked == len(ids) and not summary.errors, summary.line()
    return clock.now()


def replayable(capture: Capture) -> bool:
    """A capture pywb can serve: its record is an HTTP response or a revisit of one."""
    return capture.record_type in ("response", "revisit")


def target_uri(capture: Capture) -> str:
    """The URL the capture's WARC record is about (after redirects)."""
    return capture.final_url or capture.url


def timestamp14(when: datetime) -> str:
    """The 14-digit timestamp of CDX indexes and replay URLs."""
    return when.strftime("%Y%m%d%H%M%S")


def expected_payloads(story: Story) -> dict[int, bytes]:
    """What each replayable capture must replay: its stored payload, or for a revisit the
    payload of the response the database says it refers to."""
    captures = {c.id: c for c in story.captures()}
    archive = WarcArchive(story.home_dir / "archive" / "warc")
    found: dict[int, bytes] = {}
    for capture in captures.values():
        if not replayable(capture):
            continue
        original = capture
        if capture.record_type == "revisit":
            assert capture.refers_to_capture_id is not None, f"revisit #{capture.id} refers to nothing"
            original = captures[capture.refers_to_capture_id]
        found[capture.id or 0] = archive.read_payload(stored_of(original).response)
    return found
