"""The dashboard in a real browser: headless Chromium driven by Playwright, as a person uses it.

Debian's ``chromium`` is driven through Playwright's ``executable_path`` (Playwright never
downloads a browser here). Without Chromium or Playwright these tests skip saying how to
install them; with ``CI=true`` that is a failure. One story (tests/web_story.py), one
server and one browser per module; every test opens its own browser context, so cookies
never leak between tests, and the tests that change things do so on a source of their own.

Screenshots of the main pages go into the test's tmp dir, and into ``$MONITOR_SCREENSHOTS``
when set (``MONITOR_SCREENSHOTS=docs python -m pytest tests/test_web_browser.py`` refreshes
the README's docs/dashboard.png and docs/diff.png).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import NoReturn

import pytest
from sqlmodel import col, func, select
from warcio.archiveiterator import ArchiveIterator

from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.store import session
from monitor.store.models import Event, Source, Version
from monitor.web.app import create_app
from monitor.web.archived import SANDBOX_CSP
from monitor.web.auth import resolve_token
from tests.conftest import PARAGRAPHS, TEST_ENV, publish
from tests.site import NewsSite
from tests.web_server import RequestLog, serving
from tests.web_story import Story, write_story

try:
    from playwright.sync_api import Browser, BrowserContext, Download, Locator, Page, expect, sync_playwright
except ImportError:  # reported by the chromium fixture: a skip off CI, a failure on it
    PLAYWRIGHT_IMPORTED = False
else:
    PLAYWRIGHT_IMPORTED = True

# Read once at import: the autouse _test_env fixture clears every MONITOR_* variable.
CHROMIUM_ENV = os.environ.get("MONITOR_CHROMIUM")
SCREENSHOTS_ENV = os.environ.get("MONITOR_SCREENSHOTS")
CHROMIUM_HINT = ("apt-get install -y chromium (Debian), or set MONITOR_CHROMIUM to a Chromium "
                 "binary; Playwright drives it without downloading a browser of its own")
VIEWPORT = {"width": 1280, "height": 900}
WAIT_MS = 10_000  # Playwright's wait for any one thing to appear
CHECK_MS = 30_000  # a check now: fetch, extract, store, then the page's 2-second refresh


def _missing(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must have it (.ci/run installs it)")
    pytest.skip(message)


def chromium_path() -> Path:
    """``$MONITOR_CHROMIUM``, else ``chromium`` (or ``chromium-browser``) on PATH."""
    if CHROMIUM_ENV:
        given = Path(CHROMIUM_ENV)
        if given.is_file() and os.access(given, os.X_OK):
            return given
        _missing(f"MONITOR_CHROMIUM={CHROMIUM_ENV} is not an executable file")
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    _missing(f"Chromium not found: {CHROMIUM_HINT}")


@dataclass
class World:
    """What the module's tests share: the story, the home under it, and the served app."""

    base: str
    home: Home
    site: NewsSite
    story: Story
    log: RequestLog
    token: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The web story in a home, served by uvicorn on 127.0.0.1 as ``monitor serve`` does."""
    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith("MONITOR_")]:
            env.delenv(key)
        for key, value in {**TEST_ENV, "MONITOR_WEB__ALLOW_PRIVATE_URLS": "true"}.items():
            env.setenv(key, value)  # the site is on 127.0.0.1, which the web refuses by default
        home_dir = tmp_path_factory.mktemp("browser-home")
        with NewsSite(outlets=["apnews", "cnn", "reuters"], static_outlets=["reuters"]) as site:
            home = open_home(home_dir)
            clock = ManualClock(datetime(2025, 1, 15, 12, 0, tzinfo=UTC))
            story = write_story(site, home, clock)
            log = RequestLog(create_app(home, clock=clock, loopback_only=True))
            token = resolve_token(home.settings.web.token, home.settings.archive_dir)
            try:
                with serving(log) as base:
                    yield World(base, home, site, story, log, token)
            finally:
                home.engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Chromium and Playwright, or the skip (the failure on CI) before any story is written."""
    if not PLAYWRIGHT_IMPORTED:
        _missing("Playwright for Python not installed: pip install -e '.[test]'")
    return chromium_path()


@pytest.fixture(scope="module")
def browser(chromium: Path, world: World) -> Iterator[Browser]:
    """One headless Chromium for the module (started after the story: Playwright's sync API
    and the story's asyncio.run must not share a thread's loop)."""
    with sync_playwright() as playwright:
        # Chromium will not start as root with its own sandbox on ("Running as root without
        # --no-sandbox is not supported"), as in a container or CI; as a normal user keep it.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=args)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, world: World) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=world.base, viewport=VIEWPORT)
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def signed_in(page: Page, world: World) -> Page:
    """A page signed in through the /login form with the token, as a person would."""
    page.goto("/login")
    page.get_by_label("Token").fill(world.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_have_text("Signed in.")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


# -- helpers -------------------------------------------------------------------------------


def version_captures(home: Home, source_id: int) -> dict[int, int]:
    """Version number → the capture that first saw it."""
    with session(home.engine) as db:
        rows = db.exec(select(Version.number, Version.capture_id)
                       .where(col(Version.source_id) == source_id)).all()
    return {number: capture for number, capture in rows if capture is not None}


def source_count(home: Home) -> int:
    with session(home.engine) as db:
        return int(db.exec(select(func.count()).select_from(Source)).one())


def row_of_version(page: Page, number: int) -> Locator:
    rows = page.locator("table.versions tbody tr")
    return rows.filter(has=page.get_by_role("cell", name=str(number), exact=True))


def download(page: Page, link: Locator) -> tuple[str, bytes]:
    with page.expect_download() as info:
        link.click()
    got: Download = info.value
    return got.suggested_filename, Path(got.path()).read_bytes()


def warc_payloads(data: bytes) -> dict[str, bytes]:
    """Record type → payload of a downloaded WARC; every digest it carries must verify."""
    payloads: dict[str, bytes] = {}
    for record in ArchiveIterator(BytesIO(data), check_digests=True):
        payloads[record.rec_type] = record.content_stream().read()
        assert record.digest_checker.passed is not False, record.digest_checker.problems
    return payloads


def shoot(page: Page, folder: Path, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot into ``folder`` and into ``$MONITOR_SCREENSHOTS`` when set."""
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    if SCREENSHOTS_ENV:
        Path(SCREENSHOTS_ENV).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(SCREENSHOTS_ENV) / path.name)
    return path


def no_sideways_scroll(page: Page) -> None:
    """Nothing on the page is wider than the window (no horizontal scrollbar)."""
    window = (page.viewport_size or VIEWPORT)["width"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= window, f"{page.url} is {width}px wide in a {window}px window"


# -- 1. the dashboard, then one source ------------------------------------------------------


def test_dashboard_lists_sources_with_states_and_sparklines_and_leads_to_a_source(
        page: Page, world: World) -> None:
    story = world.story
    page.goto("/")
    expect(page).to_have_title("Source monitor")
    rows = page.locator("table.sources tbody tr")
    expect(rows).to_have_count(4)
    seen = {}
    for source_id in (story.edited, story.dead, story.static, story.hostile):
        row = rows.filter(has=page.locator(f'a[href="/sources/{source_id}"]'))
        seen[source_id] = row.locator(".state").inner_text()  # as shown: CSS upper-cases it
        expect(row.locator("svg.spark rect")).to_have_count(6)  # six checks over 2.5 days
    assert seen == {story.edited: "ALIVE", story.dead: "DEAD", story.static: "ALIVE",
                    story.hostile: "ALIVE"}
    edited_row = rows.filter(has=page.locator(f'a[href="/sources/{story.edited}"]'))
    expect(edited_row.locator("svg.spark rect.t-changed")).to_have_count(2)  # versions 2 and 3
    expect(edited_row.locator("td.num").first).to_have_text("3")
    expect(rows.filter(has=page.locator(f'a[href="/sources/{story.dead}"]'))
           .locator("svg.spark rect.t-fail")).to_have_count(5)  # the 410s after the first check
    expect(page.locator("nav.filters")).to_contain_text("dead 1")

    page.get_by_role("link", name="What is RedNote?").click()  # the title as first seen
    expect(page).to_have_url(f"{world.base}/sources/{story.edited}")
    expect(page.locator("h1")).to_have_text("What is RedNote?")
    expect(page.locator("table.versions tbody tr")).to_have_count(3)
    expect(row_of_version(page, 1)).to_contain_text("What is RedNote?")
    expect(row_of_version(page, 3)).to_contain_text("The great social media migration to RedNote")
    timeline = page.locator("ol.timeline")
    for number in (1, 2, 3):
        expect(timeline.locator("li.t-version", has_text=f"version {number}")).to_have_count(1)
    expect(timeline.locator("li", has=page.locator(".kind", has_text="changed"))).to_have_count(2)
    expect(timeline.get_by_role("link", name="see the diff")).to_have_count(2)


# -- 2. a diff, inline then side by side ----------------------------------------------------


def test_diff_shows_the_changed_figure_inline_and_side_by_side(page: Page, world: World) -> None:
    page.goto(f"/sources/{world.story.edited}")
    page.get_by_role("link", name="diff with 2").click()
    expect(page).to_have_url(re.compile(r"/diff\?from=2&to=3$"))
    inline = page.locator(".diff .inline")
    expect(inline.locator("del")).to_contain_text(["700,000"])
    expect(inline.locator("ins")).to_contain_text(["3 million"])

    page.get_by_label("From").select_option("1")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/diff\?from=1&to=3&view=inline$"))
    expect(page.locator(".headline-diff del")).not_to_have_count(0)
    expect(page.locator(".headline-diff ins")).to_contain_text(["migration"])
    expect(page.locator(".diff .inline ins")).to_contain_text(["Correction"])

    page.get_by_role("link", name="Side by side").click()
    expect(page).to_have_url(re.compile(r"from=1&to=3&view=side$"))
    heads = page.locator(".sbs .sbs-head")
    expect(heads).to_have_count(2)
    expect(heads.nth(0)).to_contain_text("Version 1")
    expect(heads.nth(1)).to_contain_text("Version 3")
    old = page.locator(".sbs-old", has=page.locator("del", has_text="700,000"))
    new = page.locator(".sbs-new", has=page.locator("ins", has_text="3 million"))
    expect(old).to_have_count(1)
    expect(new).to_have_count(1)
    left, right = old.bounding_box(), new.bounding_box()
    assert left and right and right["x"] >= left["x"] + left["width"] - 1, (left, right)
    assert abs(right["y"] - left["y"]) < 2, "the two columns' paragraphs are not side by side"
    no_sideways_scroll(page)


# -- 3. restore: view, readable, downloads --------------------------------------------------


def test_a_version_opens_sandboxed_and_downloads_as_html_text_and_warc(
        page: Page, world: World, tmp_path: Path) -> None:
    edited = world.story.edited
    page.goto(f"/sources/{edited}")
    row_of_version(page, 1).get_by_role("link", name="view", exact=True).click()
    capture = version_captures(world.home, edited)[1]
    expect(page).to_have_url(f"{world.base}/captures/{capture}")
    frame = page.locator("iframe.archived")
    expect(frame).to_have_attribute("sandbox", "")
    inside = page.frame_locator("iframe.archived")
    expect(inside.locator("h1")).to_have_text("What is RedNote?")
    expect(inside.locator("body")).to_contain_text("700,000 new users")

    page.get_by_role("link", name="Readable").click()
    expect(page).to_have_url(f"{world.base}/captures/{capture}?as=readable")
    expect(frame).to_have_attribute("sandbox", "")
    expect(inside.locator("body")).to_contain_text("What is RedNote?")
    expect(inside.locator("body")).to_contain_text(PARAGRAPHS[2])

    page.goto(f"/sources/{edited}")
    links = row_of_version(page, 1)
    name, html = download(page, links.get_by_role("link", name="HTML"))
    assert name.endswith(".html") and b"What is RedNote?" in html
    name, text = download(page, links.get_by_role("link", name="text"))
    assert name.endswith(".txt")
    assert all(p in text.decode() for p in PARAGRAPHS) and "3 million" not in text.decode()
    name, warc = download(page, links.get_by_role("link", name="WARC"))
    assert name.endswith(".warc.gz")
    assert warc_payloads(warc)["response"] == html, "the HTML download is not the archived response"
    (tmp_path / name).write_bytes(warc)
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(tmp_path / name)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "digest pass" in check.stdout, check.stdout + check.stderr


def test_the_html_download_is_the_exact_bytes_the_site_served(page: Page, world: World) -> None:
    """A static page (the same bytes on every fetch) from its version row; a page whose
    chrome changes on every fetch from its latest check, which stored the full response."""
    static, edited = world.story.static, world.story.edited
    page.goto(f"/sources/{static}")
    _, html = download(page, row_of_version(page, 1).get_by_role("link", name="HTML"))
    assert html == world.site.last_body(world.story.urls[static])

    page.goto(f"/sources/{edited}")
    latest = page.locator("table.captures tbody tr").first
    expect(latest.locator("td").nth(3)).to_have_text("response")
    latest.get_by_role("link", name="view copy").click()
    expect(page.frame_locator("iframe.archived").locator("h1")).to_have_text(
        "The great social media migration to RedNote")
    _, html = download(page, page.get_by_role("link", name="HTML"))
    assert html == world.site.last_body(world.story.urls[edited])


# -- 4. screenshots of the story as written --------------------------------------------------


def test_screenshots_of_the_dashboard_a_source_a_diff_and_a_copy(
        signed_in: Page, world: World, tmp_path: Path) -> None:
    page, edited = signed_in, world.story.edited
    shots: list[Path] = []
    for path, name, full in (("/", "dashboard", False), (f"/sources/{edited}", "source", True),
                             (f"/sources/{edited}/diff?from=1&to=3&view=side", "diff", False),
                             (f"/captures/{version_captures(world.home, edited)[3]}", "copy", False)):
        page.goto(path)
        expect(page.locator("main")).to_be_visible()
        no_sideways_scroll(page)
        shots.append(shoot(page, tmp_path, name, full_page=full))
    for shot in shots:
        width, height = png_size(shot.read_bytes())
        assert width == VIEWPORT["width"] and height >= VIEWPORT["height"], (shot.name, width, height)


def test_the_main_pages_fit_a_phone_screen(signed_in: Page, world: World) -> None:
    """390 px wide: the page never scrolls sideways (a wide table scrolls on its own)."""
    page, edited = signed_in, world.story.edited
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", f"/sources/{edited}", f"/sources/{edited}/diff?from=1&to=3&view=side",
                 f"/sources/{edited}/diff?from=1&to=3", "/events", "/login",
                 f"/captures/{version_captures(world.home, edited)[3]}"):
        page.goto(path)
        no_sideways_scroll(page)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# -- 5. signed in: add, check now, pause, ack, mute, remove ---------------------------------


def test_signed_in_a_person_adds_checks_pauses_acks_mutes_and_removes_a_source(
        signed_in: Page, world: World) -> None:
    page = signed_in
    url = publish(world.site, "apnews", "bluesky-signups", headline="Bluesky passes 20 million users")
    page.goto("/")
    page.get_by_label("URL").fill(url)
    page.get_by_role("button", name="Add").click()
    expect(page).to_have_url(re.compile(r"/sources/\d+\?note=added$"))
    source_id = int(page.url.split("/sources/", 1)[1].split("?", 1)[0])
    try:
        use_every_button(page, world, url, source_id)
    finally:  # leave the story as it was for the other tests: no trace of this source
        gone = page.request.delete(f"/api/sources/{source_id}?purge=true",
                                   headers={"Authorization": f"Bearer {world.token}"})
        assert gone.status == 204, gone.text()


def use_every_button(page: Page, world: World, url: str, source_id: int) -> None:
    """After "Add": wait for the first check, then Check now, Ack, Pause/Resume, Mute/Unmute,
    Remove, each seen through what the page says and shows afterwards."""
    site = world.site
    expect(page.get_by_role("status").first).to_have_text("Source added; its first check runs now.")
    versions = page.locator("table.versions tbody tr")
    expect(versions).to_have_count(1, timeout=CHECK_MS)  # it refreshes itself while checking
    expect(page.locator("h1")).to_have_text("Bluesky passes 20 million users")
    page.goto("/")
    expect(page.locator("table.sources tbody tr", has=page.locator(f'a[href="/sources/{source_id}"]'))
           .locator(".state")).to_have_text("alive", ignore_case=True)

    page.goto(f"/sources/{source_id}")
    site.edit(url, paragraphs=[p.replace("700,000", "900,000") for p in PARAGRAPHS])
    site.hang(url, 2.0)  # slow enough that the page is seen while the check still runs
    try:
        page.get_by_role("button", name="Check now").click()
        expect(page.get_by_text("Checking now… this page refreshes until the check is done.")).to_be_visible()
        expect(versions).to_have_count(2, timeout=CHECK_MS)  # no reload by us: the page's refresh
    finally:
        site.restore(url)
    expect(page.get_by_text("Checking now… this page refreshes")).to_have_count(0)
    expect(row_of_version(page, 2).get_by_role("link", name="diff with 1")).to_be_visible()

    changed = page.locator("ol.timeline li", has=page.locator(".kind", has_text="changed"))
    expect(changed).to_have_count(1)
    changed.get_by_role("button", name="Ack").click()
    expect(page.get_by_role("status")).to_have_text("Acknowledged.")
    expect(changed).to_have_class(re.compile(r"\backed\b"))
    expect(changed.get_by_role("button", name="Ack")).to_have_count(0)
    with session(world.home.engine) as db:
        event = db.exec(select(Event).where(col(Event.source_id) == source_id,
                                            col(Event.kind) == "changed")).one()
        assert event.acked_at is not None

    state = page.locator("p.meta .state")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_have_text("Paused.")
    expect(state).to_have_text("paused", ignore_case=True)
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_have_text("Resumed; it is due now.")
    expect(state).to_have_text("alive", ignore_case=True)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()

    facts = page.locator("dl.facts")
    page.get_by_role("button", name="Mute").click()
    expect(page.get_by_role("status")).to_have_text("Muted.")
    expect(facts.locator("dt", has_text="Muted")).to_be_visible()
    page.get_by_role("button", name="Unmute").click()
    expect(page.get_by_role("status")).to_have_text("Unmuted.")
    expect(facts.locator("dt", has_text="Muted")).to_have_count(0)

    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_have_text("Removed; its history is kept.")
    expect(state).to_have_text("removed", ignore_case=True)
    expect(page.get_by_role("button", name="Remove")).to_have_count(0)
    expect(versions).to_have_count(2)  # history kept
    page.goto("/")
    expect(page.locator(f'table.sources a[href="/sources/{source_id}"]')).to_have_count(0)
    page.goto("/?state=removed")
    expect(page.locator(f'table.sources a[href="/sources/{source_id}"]')).to_have_count(1)


# -- 6. signed out: nothing to press, and a stale form is refused ----------------------------


def test_signed_out_there_are_no_buttons_and_a_form_posted_without_the_cookie_gets_401(
        page: Page, context: BrowserContext, world: World) -> None:
    static = world.story.static
    page.goto("/")
    expect(page.locator('form[action="/sources"]')).to_have_count(0)
    expect(page.get_by_text("Sign in to add sources")).to_be_visible()
    page.goto(f"/sources/{world.story.edited}")
    expect(page.get_by_role("region", name="Actions")).to_have_count(0)
    expect(page.get_by_role("button")).to_have_count(0)
    expect(page.get_by_text("Sign in to check now, pause, mute or remove.")).to_be_visible()

    page.goto("/login")  # a tab signed in, then the cookie goes (signed out elsewhere, expired)
    page.get_by_label("Token").fill(world.token)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/sources/{static}")
    pause = page.get_by_role("button", name="Pause")
    expect(pause).to_be_visible()
    context.clear_cookies()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        pause.click()
    assert answer.value.status == 401
    expect(page.locator("h1")).to_have_text("Sign in needed")
    expect(page.get_by_role("alert")).to_contain_text("this needs the API token")
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    with session(world.home.engine) as db:
        row = db.get(Source, static)
        assert row is not None and not row.paused


# -- 7. the archived page's scripts cannot reach the dashboard -------------------------------


@dataclass
class Traffic:
    """What the browser tried (every request, frames included) and how each failed, if it did."""

    tried: list[tuple[str, str]]
    failed: dict[str, str]
    console: list[str]

    @classmethod
    def watch(cls, context: BrowserContext, page: Page) -> Traffic:
        traffic = cls([], {}, [])
        context.on("request", lambda r: traffic.tried.append((r.method, r.url)))
        context.on("requestfailed", lambda r: traffic.failed.update({r.url: r.failure or ""}))
        page.on("console", lambda m: traffic.console.append(m.text))
        return traffic


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition`` (a request in flight on another connection reaches the server's log
    when it reaches it); True as soon as it holds, False after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def leaks(paths: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Requests a hostile page could only have made by running as the dashboard."""
    return [(m, p) for m, p in paths if m != "GET" or p.startswith(("/canary", "/api"))]


def test_an_archived_pages_scripts_cannot_reach_the_dashboards_origin(
        signed_in: Page, context: BrowserContext, world: World) -> None:
    page, hostile = signed_in, world.story.hostile  # signed in: the cookie is there to steal
    capture = version_captures(world.home, hostile)[1]
    before = source_count(world.home)
    traffic = Traffic.watch(context, page)
    mark = world.log.mark()

    page.goto(f"/captures/{capture}")  # waits for the load event: the frame's too
    expect(page.frame_locator("iframe.archived").locator("h1")).to_have_text("Lemon8 rises as TikTok waits")
    expect(page.locator("iframe.archived")).to_have_attribute("sandbox", "")
    assert page.title() == "Archived copy · Lemon8 rises as TikTok waits"
    top = page.goto(f"/archived/{capture}")  # the same bytes as a page of their own
    assert top is not None and top.headers["content-security-policy"] == SANDBOX_CSP
    assert SANDBOX_CSP.startswith("sandbox;") and "default-src 'none'" in SANDBOX_CSP
    expect(page.locator("h1")).to_have_text("Lemon8 rises as TikTok waits")
    assert "PWNED" not in page.title()

    reached = [(s.method, s.path) for s in world.log.since(mark)]
    assert ("GET", f"/archived/{capture}") in reached  # the log does see what the page asks for
    assert leaks(reached) == [], f"the archived page reached the server: {leaks(reached)}"
    attempted = [url for _, url in traffic.tried if "/canary" in url or "/api/" in url]
    assert attempted, "the hostile page made no attempt: is HOSTILE still embedded?"
    assert all(traffic.failed.get(url) == "csp" for url in attempted), (attempted, traffic.failed)
    assert not any(c["name"] == "stolen" for c in context.cookies())
    assert source_count(world.home) == before
    with session(world.home.engine) as db:
        first = db.get(Source, 1)
        assert first is not None and first.paused_reason != "removed"
    # Chromium says why nothing ran: the frame (and the page itself) is sandboxed without scripts.
    assert any("Blocked script execution" in line and "sandboxed" in line for line in traffic.console)


def test_without_the_sandbox_the_same_page_would_reach_the_server(
        browser: Browser, world: World) -> None:
    """The control for the test above: the hostile bytes served *without* the sandbox policy
    (intercepted in the browser, never by the app) do reach the server, so the log and the
    assertions above would see a sandbox that stopped working."""
    capture = version_captures(world.home, world.story.hostile)[1]
    context = browser.new_context(base_url=world.base)
    try:
        page = context.new_page()
        body = page.request.get(f"/archived/{capture}").body()
        page.route(f"{world.base}/unsandboxed", lambda route: route.fulfill(
            status=200, body=body, content_type="text/html; charset=utf-8"))
        mark = world.log.mark()
        with page.expect_response(lambda r: r.request.method == "POST" and "/remove" in r.url) as answer:
            page.goto("/unsandboxed")
        assert answer.value.status == 401  # not signed in here: nothing is removed for real
        reached = leaks([(s.method, s.path) for s in world.log.since(mark)])
        assert ("POST", "/sources/1/remove") in reached
        assert wait_until(lambda: any(s.path.startswith("/canary") for s in world.log.since(mark))), \
            f"no /canary request reached the server: {reached}"
    finally:
        context.close()
