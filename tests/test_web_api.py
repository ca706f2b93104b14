"""The JSON API, the feed and the web's defences, over HTTP as clients see them.

Every test gets a fresh copy of the dashboard story (tests/web_home.py), served by uvicorn
on 127.0.0.1 in a thread (tests/web_server.py; Starlette's TestClient wants httpx2, which
this project does not install). Host names added through the API are looked up in
FAKE_DNS, never in a real DNS server, and check now fetches only from the local news site.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import lxml.html
import pytest
from fastapi import FastAPI

try:  # FastAPI >= 0.16x keeps an included router as one route; this walks into them
    from fastapi.routing import iter_route_contexts
except ImportError:  # older FastAPI copies the included routes into app.routes
    def iter_route_contexts(routes: Any) -> Any:  # type: ignore[misc]
        return iter(routes)

from monitor import guard
from monitor.home import Home
from monitor.web.actions import CheckRunner
from monitor.web.app import DASHBOARD_CSP, create_app
from monitor.web.archived import SANDBOX_CSP
from tests.conftest import TEST_ENV, events_of, run_cli
from tests.site import NewsSite
from tests.test_daemon import wait_for
from tests.test_web_daemon import answers, free_port
from tests.web_home import Template, build_template, story_copy
from tests.web_server import serving
from tests.web_story import Story

ATOM = "{http://www.w3.org/2005/Atom}"
BIG = 2**63  # one more than SQLite's largest INTEGER
FAKE_DNS = {"news.example": ["93.184.216.34"], "intranet.example": ["10.1.2.3"],
            "split.example": ["93.184.216.34", "192.168.7.7"], "localhost": ["127.0.0.1", "::1"]}


def fake_resolve(host: str) -> list[str]:
    if host in FAKE_DNS:
        return FAKE_DNS[host]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture(scope="module")
def news() -> Iterator[NewsSite]:
    with NewsSite(outlets=["apnews", "cnn", "reuters"], static_outlets=["reuters"]) as site:
        yield site


@pytest.fixture(scope="module")
def template(news: NewsSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    with pytest.MonkeyPatch.context() as env:
        for key, value in TEST_ENV.items():
            env.setenv(key, value)
        yield build_template(news, tmp_path_factory.mktemp("story"))


@dataclass
class Web:
    client: httpx.Client
    base: str  # http://127.0.0.1:PORT
    app: FastAPI
    home: Home
    story: Story
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def unacked(self, **query: Any) -> list[dict[str, Any]]:
        answer = self.client.get("/api/events", params={"unacked": "true", **query})
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()
        return events

    def alerts(self, source_id: int) -> int:
        return int(self.client.get(f"/api/sources/{source_id}").json()["alerts"])


ServeStory = Callable[..., Any]


@pytest.fixture
def serve_story(template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServeStory:
    """``with serve_story(loopback_only=False, **env) as web``: the app on a fresh copy of
    the story, with MONITOR_* ``env`` (e.g. MONITOR_WEB__ALLOW_PRIVATE_URLS) set first."""
    monkeypatch.setattr(guard, "resolve", fake_resolve)
    copies = iter(range(1_000))

    @contextmanager
    def serve(*, loopback_only: bool = False, **env: str) -> Iterator[Web]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with story_copy(template, tmp_path / f"home{next(copies)}") as (home, ctx):
            app = create_app(home, runner=CheckRunner(home, ctx), clock=ctx.clock,
                             loopback_only=loopback_only)
            with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
                yield Web(client, base, app, home, template.story, template.token)
    return serve


@pytest.fixture
def web(serve_story: ServeStory) -> Iterator[Web]:
    with serve_story() as served:
        yield served


def one_line_detail(answer: httpx.Response) -> str:
    """The API's error shape: ``{"detail": "<one line>"}`` as JSON."""
    assert answer.headers["content-type"] == "application/json", answer.text
    body = answer.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str), body
    detail: str = body["detail"]
    assert detail.strip() and "\n" not in detail, detail
    return detail


# --- who may write ---------------------------------------------------------------------------

def write_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route that is not a read, from the app's own routes."""
    return sorted((method, route.path) for route in iter_route_contexts(app.routes)
                  for method in (route.methods or ()) if method not in ("GET", "HEAD"))


def snapshot(home: Home) -> tuple[list[str], list[tuple[str, int]]]:
    """Every row of the database and every archive file: what a refused write must not change."""
    database = home.engine.url.database
    assert database is not None
    with sqlite3.connect(database) as db:
        rows = list(db.iterdump())
    archive = home.settings.archive_dir
    files = sorted((str(p.relative_to(archive)), p.stat().st_size)
                   for p in archive.rglob("*") if p.is_file() and "monitor.db" not in p.name)
    return rows, files


def write_request(web: Web, method: str, path: str, headers: dict[str, str], event: str) -> httpx.Response:
    """A request that would succeed with the right credentials (a full body, real ids)."""
    url = path.format(source_id=web.story.dead, event_id=event)
    if path.startswith("/api/"):
        body = {"url": "https://news.example/story", "kinds": ["*"], "ids": [event],
                "source_id": web.story.dead}
        return web.client.request(method, url, json=body, headers=headers)
    form = {"url": "https://news.example/story", "kind": "*", "next": "/events"}
    return web.client.request(method, url, data=form, headers=headers)


def test_every_write_endpoint_refuses_a_missing_or_wrong_token_and_changes_nothing(web: Web) -> None:
    routes = [r for r in write_routes(web.app) if r != ("POST", "/login")]  # signing in is for all
    documented = web.client.get("/openapi.json").json()["paths"]
    api_writes = sorted((m.upper(), p) for p, ops in documented.items() for m in ops if m != "get")
    assert api_writes and set(api_writes) <= set(routes)
    csrf = signed_in_csrf(web)  # every button of the dashboard posts to a route in the list too
    pages = [lxml.html.fromstring(web.client.get(path).text)
             for path in ("/", f"/sources/{web.story.dead}", "/events")]
    actions = {a.split("?")[0] for page in pages for a in page.xpath('//form[@method="post"]/@action')}
    templates = [re.compile(re.sub(r"\{\w+\}", "[^/]+", p)) for m, p in routes if m == "POST"]
    assert len(actions) >= 8 and csrf
    assert [a for a in actions if not any(t.fullmatch(a) for t in templates)] == []
    web.client.cookies.clear()  # what follows has neither token nor cookie
    event = web.unacked(source=web.story.dead)[0]["id"]
    before = snapshot(web.home)
    for method, path in routes:
        missing = write_request(web, method, path, {}, event)
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "API token" in one_line_detail(missing)
        wrong = write_request(web, method, path, {"Authorization": "Bearer not-the-token-at-all"}, event)
        assert wrong.status_code == 403, (method, path, wrong.text)
        assert one_line_detail(wrong) == "wrong API token"
    assert snapshot(web.home) == before
    assert web.app.state.web.runner.running == set()  # no check was started either
    for method, path in routes:  # the same requests with the token do work: they were real
        answer = write_request(web, method, path, web.auth, event)
        assert answer.status_code < 400, (method, path, answer.text)
    assert snapshot(web.home) != before


def signed_in_csrf(web: Web) -> str:
    """Sign in with the link ``monitor serve`` prints; the CSRF token from a page's form."""
    answer = web.client.get("/login", params={"token": web.token})
    assert answer.status_code == 303 and "monitor_session" in web.client.cookies
    page = lxml.html.fromstring(web.client.get(f"/sources/{web.story.static}").text)
    values = set(page.xpath('//form[@method="post"]//input[@name="csrf"]/@value'))
    assert len(values) == 1, values
    return values.pop()


def test_signed_in_writes_need_the_csrf_token_and_the_same_origin(web: Web) -> None:
    csrf = signed_in_csrf(web)
    pause = f"/sources/{web.story.static}/pause"
    same = {"Origin": web.base}
    refused = [
        web.client.post(pause, headers=same),  # the cookie alone
        web.client.post(pause, data={"csrf": "0" * 64}, headers=same),
        web.client.post(pause, data={"csrf": csrf}, headers={"Origin": "null"}),  # a sandboxed page
        web.client.post(pause, data={"csrf": csrf}, headers={"Origin": "https://evil.example"}),
        web.client.post(pause, data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert [one_line_detail(r).split(" ")[0] for r in refused] == ["missing", "missing", "cross-origin",
                                                                   "cross-origin", "cross-origin"]
    assert web.client.get(f"/api/sources/{web.story.static}").json()["paused"] is False

    done = web.client.post(pause, data={"csrf": csrf}, headers=same)
    assert done.status_code == 303 and done.headers["location"] == f"{pause[:-6]}?note=paused"
    assert web.client.get(f"/api/sources/{web.story.static}").json()["paused"] is True
    resumed = web.client.post(f"/api/sources/{web.story.static}/resume",
                              headers={**same, "X-CSRF-Token": csrf})
    assert resumed.status_code == 200 and resumed.json()["paused"] is False


# --- what may be watched ---------------------------------------------------------------------

REFUSED_URLS = {
    "http://127.0.0.1/admin": "127.0.0.1",
    "http://localhost/": "127.0.0.1, ::1",
    "http://10.0.0.1/": "10.0.0.1",
    "http://[::1]/": "::1",
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254",  # cloud metadata
    "http://0.0.0.0/": "0.0.0.0",
    "http://[::ffff:127.0.0.1]/": "::ffff:7f00:1",  # IPv4-mapped IPv6
    "https://intranet.example/wiki": "10.1.2.3",  # a name that resolves to a private address
    "https://split.example/": "192.168.7.7",  # one private address among public ones is enough
}


def test_urls_into_private_networks_are_refused_with_one_line(web: Web) -> None:
    for url, address in REFUSED_URLS.items():
        answer = web.client.post("/api/sources", json={"url": url}, headers=web.auth)
        assert answer.status_code == 422, (url, answer.text)
        detail = one_line_detail(answer)
        assert f"is a private or loopback address ({address})" in detail, detail
        assert detail.startswith(url) and "web.allow_private_urls" in detail
    unknown = web.client.post("/api/sources", json={"url": "https://no-such-name.example/"}, headers=web.auth)
    assert unknown.status_code == 422 and "does not resolve" in one_line_detail(unknown)
    assert len(web.client.get("/api/sources").json()) == 4


def test_private_urls_are_allowed_when_the_user_says_so(serve_story: ServeStory) -> None:
    with serve_story(MONITOR_WEB__ALLOW_PRIVATE_URLS="true") as web:
        for url in REFUSED_URLS:
            answer = web.client.post("/api/sources", json={"url": url}, headers=web.auth)
            assert answer.status_code == 201, (url, answer.text)


def test_a_public_url_is_added_once_then_it_is_already_watched(web: Web) -> None:
    body = {"url": "HTTPS://News.Example/2025/story?utm_source=x", "title": "A story",
            "cited_at": "2025-01-10T09:00:00+01:00"}
    first = web.client.post("/api/sources", json=body, headers=web.auth)
    assert first.status_code == 201, first.text
    added = first.json()
    assert added["url"] == "https://news.example/2025/story" and added["state"] == "new"
    assert added["cited_at"] == "2025-01-10T08:00:00Z"
    again = web.client.post("/api/sources", json={"url": "https://news.example/2025/story"}, headers=web.auth)
    assert again.status_code == 200 and again.json()["id"] == added["id"]
    assert len(web.client.get("/api/sources").json()) == 5


# --- monitor serve ---------------------------------------------------------------------------

def launch(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``monitor ARGS`` as a user starts it, in the background."""
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=home, text=True,
                            env={**os.environ, "MONITOR_HOME": str(home), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_serve_beyond_loopback_needs_a_token(home_dir: Path) -> None:
    refused = run_cli(home_dir, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.code == 2
    assert len(refused.err.strip().splitlines()) == 1 and "web.token" in refused.err, refused.err

    port = free_port()
    token = "a-token-chosen-by-the-user"
    proc = launch(home_dir, "serve", "--host", "0.0.0.0", "--port", str(port),
                  env={"MONITOR_WEB__TOKEN": token})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(base + "/openapi.json"), "monitor serve on 0.0.0.0 to answer")
        assert httpx.post(f"{base}/api/events/ack", json={}).status_code == 401
        acked = httpx.post(f"{base}/api/events/ack", json={}, headers={"Authorization": f"Bearer {token}"})
        assert acked.status_code == 200 and acked.json() == {"acknowledged": 0}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "sign in with the configured web.token" in out and token not in out


@pytest.mark.slow
def test_serve_on_loopback_refuses_a_foreign_host_header(home_dir: Path) -> None:
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 is refused."""
    port = free_port()
    proc = launch(home_dir, "serve", "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(base + "/"), "monitor serve to answer")
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
            assert httpx.get(base + "/api/sources", headers={"Host": host}).status_code == 400, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            assert httpx.get(base + "/api/sources", headers={"Host": host}).status_code == 200, host
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_the_app_on_loopback_refuses_a_foreign_host_even_with_the_token(serve_story: ServeStory) -> None:
    with serve_story(loopback_only=True) as web:
        assert web.client.get("/api/sources").status_code == 200
        assert web.client.get("/api/sources", headers={"Host": "rebound.example:8765"}).status_code == 400
        assert web.client.post(f"/api/sources/{web.story.static}/pause", headers={
            **web.auth, "Host": "rebound.example"}).status_code == 400
        assert web.client.get(f"/api/sources/{web.story.static}").json()["paused"] is False


# --- the feed --------------------------------------------------------------------------------

def atom(web: Web, path: str) -> ET.Element:
    answer = web.client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(answer.content)
    assert root.tag == f"{ATOM}feed"
    return root


def entry_event_ids(feed: ET.Element) -> list[str]:
    return [(e.findtext(f"{ATOM}id") or "").rsplit("/", 1)[-1] for e in feed.iter(f"{ATOM}entry")]


def test_the_feed_has_the_story_events_newest_first(web: Web) -> None:
    feed = atom(web, "/feed.atom")
    events = sorted(events_of(web.home), key=lambda e: (e.at, e.id), reverse=True)
    assert entry_event_ids(feed) == [e.id for e in events]
    assert len(events) >= 6
    updated = [e.findtext(f"{ATOM}updated") or "" for e in feed.iter(f"{ATOM}entry")]
    assert updated == sorted(updated, reverse=True)


def test_the_feed_filters_by_kind_and_by_source_and_links_changes_to_their_diff(web: Web) -> None:
    changed = atom(web, "/feed.atom?kind=changed")
    entries = list(changed.iter(f"{ATOM}entry"))
    assert len(entries) == 2
    assert all("changed" in [c.get("term") for c in e.iter(f"{ATOM}category")] for e in entries)
    hrefs = [link.get("href") for e in entries for link in e.iter(f"{ATOM}link")
             if link.get("rel", "alternate") == "alternate"]  # RFC 4287: no rel means alternate
    edited = web.story.edited
    assert hrefs == [f"{web.base}/sources/{edited}/diff?from=2&to=3",
                     f"{web.base}/sources/{edited}/diff?from=1&to=2"]
    assert all(web.client.get(href or "").status_code == 200 for href in hrefs)

    dead = atom(web, f"/sources/{web.story.dead}/feed.atom")
    assert entry_event_ids(dead) == [e.id for e in sorted(
        events_of(web.home), key=lambda e: (e.at, e.id), reverse=True) if e.source_id == web.story.dead]
    assert {e.findtext(f"{ATOM}title") for e in dead.iter(f"{ATOM}entry")} >= {
        "dead: House votes on TikTok bill"}


def test_every_page_of_the_dashboard_names_the_feed(web: Web) -> None:
    for path in ("/", f"/sources/{web.story.edited}", "/events"):
        head = lxml.html.fromstring(web.client.get(path).text).find("head")
        assert head is not None
        feeds = head.xpath('link[@rel="alternate"][@type="application/atom+xml"]/@href')
        assert "/feed.atom" in feeds, (path, feeds)


# --- acknowledging and muting ----------------------------------------------------------------

def test_ack_through_the_api_shrinks_the_unacknowledged_list(web: Web) -> None:
    pending = web.unacked()
    assert len(pending) >= 4
    first = pending[0]["id"]
    acked = web.client.post(f"/api/events/{first}/ack", headers=web.auth)
    assert acked.status_code == 200 and acked.json()["acked_at"] is not None
    assert [e["id"] for e in web.unacked()] == [e["id"] for e in pending[1:]]
    assert web.client.post(f"/api/events/{first}/ack", headers=web.auth).status_code == 200  # again: same

    dead = web.story.dead
    assert [e for e in web.unacked() if e["source_id"] == dead]
    recorded = web.client.get("/api/events", params={"source": dead}).json()  # alerts or not
    answer = web.client.post("/api/events/ack", json={"source_id": dead}, headers=web.auth)
    assert answer.json() == {"acknowledged": len([e for e in recorded if e["acked_at"] is None])}
    assert [e for e in web.unacked() if e["source_id"] == dead] == []
    assert web.alerts(dead) == 0


def test_ack_naming_an_unknown_source_acknowledges_nothing(web: Web) -> None:
    """Regression: the ids were acknowledged before the unknown source answered 404."""
    event = web.unacked()[0]["id"]
    answer = web.client.post("/api/events/ack", json={"ids": [event], "source_id": 999}, headers=web.auth)
    assert answer.status_code == 404 and one_line_detail(answer) == "no source #999"
    assert event in [e["id"] for e in web.unacked()]


def test_ack_takes_a_source_id_not_a_boolean(web: Web) -> None:
    """Regression (schemathesis): ``{"source_id": true}`` acknowledged all of source #1's events."""
    answer = web.client.post("/api/events/ack", json={"source_id": True}, headers=web.auth)
    assert answer.status_code == 422 and one_line_detail(answer).startswith("body.source_id: ")
    assert [e for e in web.unacked() if e["source_id"] == 1]


def test_mute_hides_a_source_alerts_until_unmuted(web: Web) -> None:
    dead = web.story.dead
    alerts = web.alerts(dead)
    assert alerts >= 2
    unknown = web.client.post(f"/api/sources/{dead}/mute", json={"kinds": ["dead", "nope"]}, headers=web.auth)
    assert unknown.status_code == 422
    assert one_line_detail(unknown).startswith("body.kinds.1: 'nope' is not an event kind (use * or ")
    assert web.alerts(dead) == alerts

    muted = web.client.post(f"/api/sources/{dead}/mute", json={"kinds": ["*"]}, headers=web.auth)
    assert muted.status_code == 200 and muted.json()["muted_kinds"] == ["*"]
    assert web.alerts(dead) == 0
    listed = {s["id"]: s["alerts"] for s in web.client.get("/api/sources").json()}
    assert listed[dead] == 0
    assert len(web.client.get("/api/events", params={"source": dead}).json()) >= alerts  # still recorded

    unmuted = web.client.delete(f"/api/sources/{dead}/mute", headers=web.auth)
    assert unmuted.status_code == 200 and unmuted.json()["muted_kinds"] == []
    assert web.alerts(dead) == alerts


# --- check now -------------------------------------------------------------------------------

def test_check_now_with_wait_answers_with_the_change(web: Web, news: NewsSite) -> None:
    url = web.story.urls[web.story.edited]
    news.edit(url, headline="RedNote, explained: the app Americans are joining")
    answer = web.client.post(f"/api/sources/{web.story.edited}/check", params={"wait": "true"},
                             headers=web.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "done" and body["summary"].startswith("pass: 1 checked, 1 changed")
    assert [e["kind"] for e in body["events"]] == ["changed"]
    assert "RedNote, explained" in body["events"][0]["summary"]
    versions = web.client.get(f"/api/sources/{web.story.edited}/versions").json()
    assert [v["number"] for v in versions] == [4, 3, 2, 1]


def test_check_now_of_an_unknown_source_is_404(web: Web) -> None:
    answer = web.client.post("/api/sources/999/check", params={"wait": "true"}, headers=web.auth)
    assert answer.status_code == 404 and one_line_detail(answer) == "no source #999"


# --- headers that keep the dashboard safe ----------------------------------------------------

def first_copy(web: Web, source_id: int) -> int:
    captures = web.client.get(f"/api/sources/{source_id}/captures").json()
    return int(next(c["id"] for c in captures if c["restorable"]))


def test_dashboard_pages_forbid_scripts_and_framing(web: Web) -> None:
    hostile = first_copy(web, web.story.hostile)
    pages = ["/", f"/sources/{web.story.edited}", f"/sources/{web.story.edited}/diff?view=side",
             f"/captures/{hostile}", "/events?unacked=true", "/login", "/no-such-page"]
    for path in pages:
        answer = web.client.get(path, headers={"Accept": "text/html"})
        assert answer.headers["content-type"].startswith("text/html"), path
        csp = answer.headers["content-security-policy"]
        assert csp == DASHBOARD_CSP, path
        assert "script-src" not in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
    frame = lxml.html.fromstring(web.client.get(f"/captures/{hostile}").text).xpath("//iframe")
    assert [(f.get("sandbox"), f.get("src")) for f in frame] == [("", f"/archived/{hostile}?as=html")]


def test_archived_bytes_are_sandboxed_and_downloads_are_attachments(web: Web) -> None:
    hostile = first_copy(web, web.story.hostile)
    shown = {f"/archived/{hostile}": "text/html", f"/archived/{hostile}?as=readable": "text/html"}
    downloads = {f"/api/captures/{hostile}/copy?as={form}": kind for form, kind in
                 (("html", "text/html"), ("text", "text/plain"), ("warc", "application/warc"))}
    downloads[f"/api/sources/{web.story.hostile}/copy"] = "text/html"
    for path, kind in {**shown, **downloads}.items():
        answer = web.client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["content-type"].startswith(kind), path
        assert answer.headers["content-security-policy"] == SANDBOX_CSP, path
        assert SANDBOX_CSP.startswith("sandbox;") and "default-src 'none'" in SANDBOX_CSP
        disposition = answer.headers.get("content-disposition", "")
        if path in downloads:
            name = rf"source{web.story.hostile}-\d{{8}}T\d{{6}}\.(html|txt|warc\.gz)"
            assert re.fullmatch(f'attachment; filename="{name}"', disposition), (path, disposition)
        else:
            assert disposition == "", path
    assert b"<script>" in web.client.get(f"/archived/{hostile}").content  # served, not run


# --- errors ----------------------------------------------------------------------------------

def test_every_json_error_is_one_line_of_detail(web: Web) -> None:
    auth = web.auth
    calls: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/api/sources/999", {}, 404),
        ("GET", f"/api/sources/{web.story.static}/versions/9", {}, 404),
        ("GET", f"/api/sources/{web.story.dead}/copy?at=2001-01-01T00:00:00Z", {}, 404),
        ("GET", "/api/captures/99999/copy", {}, 404),
        ("POST", "/api/events/nope/ack", {"headers": auth}, 404),
        ("GET", "/api/no-such-thing", {}, 404),
        ("GET", "/api/sources/abc", {}, 422),
        ("GET", "/api/sources?state=sleeping", {}, 422),
        ("GET", "/api/events?limit=0", {}, 422),
        ("POST", "/api/sources", {"headers": auth, "json": {"url": "ftp://files.example/x"}}, 422),
        ("POST", "/api/sources", {"headers": auth, "json": {}}, 422),
        ("POST", "/api/sources", {"headers": auth, "json": {"url": "http://a:99999/"}}, 422),
        ("POST", "/api/sources", {"headers": {**auth, "Content-Type": "application/json"},
                                  "content": b"\xff\xfe{"}, 400),
        ("POST", "/api/sources", {}, 401),
        ("POST", "/api/sources", {"headers": {"Authorization": "Bearer wrong"}}, 403),
        ("PUT", "/api/sources", {}, 405),
        ("GET", "/feed.atom?kind=nope", {}, 422),
        ("GET", "/sources/999/feed.atom", {}, 404),
    ]
    for method, path, kwargs, status in calls:
        answer = web.client.request(method, path, **kwargs)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        one_line_detail(answer)


def test_a_405_names_every_method_of_the_path(web: Web) -> None:
    """Regression (schemathesis): Starlette's 405 listed only the first route's methods."""
    options = web.client.options("/api/sources")
    assert options.status_code == 405 and options.headers["allow"] == "GET, POST"
    put = web.client.put(f"/api/sources/{web.story.static}")
    assert put.status_code == 405 and put.headers["allow"] == "DELETE, GET"
    mute = web.client.get(f"/api/sources/{web.story.static}/mute")
    assert mute.status_code == 405 and mute.headers["allow"] == "DELETE, POST"


def test_ids_beyond_sqlite_integers_are_422_not_500(web: Web) -> None:
    """Regression (schemathesis): an id of 2**63 overflowed in the SQLite driver (a 500)."""
    paths = [f"/api/sources/{BIG}", f"/api/sources/1/versions/{BIG}", f"/api/sources/1/diff?to={BIG}",
             f"/api/captures/{BIG}/copy", f"/api/events?source={BIG}", f"/sources/{BIG}",
             f"/sources/1/diff?from={BIG}", f"/sources/{BIG}/feed.atom", f"/archived/{BIG}",
             f"/captures/{BIG}", f"/?page={10**20}"]
    for path in paths:
        answer = web.client.get(path)
        assert answer.status_code == 422, (path, answer.text)
        assert "less than or equal to" in one_line_detail(answer)
    ack = web.client.post("/api/events/ack", json={"source_id": BIG}, headers=web.auth)
    assert ack.status_code == 422
    assert web.client.post(f"/api/sources/{BIG}/check", headers=web.auth).status_code == 422


def test_times_are_iso_8601_with_a_zone_not_unix_numbers(web: Web) -> None:
    """Regression (schemathesis): ``since=0.5`` was read as half a second after 1970."""
    for since in ("0.5", "1736942400", "2025-01-16T00:00:00", "yesterday"):
        answer = web.client.get("/api/events", params={"since": since})
        assert answer.status_code == 422, (since, answer.text)
        assert one_line_detail(answer).startswith("query.since: ")
    later = web.client.get("/api/events", params={"since": "2025-01-17T00:00:00Z"})
    assert later.status_code == 200
    assert later.json() and all(e["at"] >= "2025-01-17T00:00:00Z" for e in later.json())
    for field, value in (("cited_at", 1736942400), ("cited_at", "2025-01-10T09:00:00")):
        answer = web.client.post("/api/sources", json={"url": "https://news.example/t", field: value},
                                 headers=web.auth)
        assert answer.status_code == 422, (value, answer.text)
    until = web.client.post(f"/api/sources/{web.story.dead}/mute", json={"until": 0}, headers=web.auth)
    assert until.status_code == 422


def test_the_document_names_every_answer_the_writes_give(web: Web) -> None:
    """Regression (schemathesis): re-adding a URL answered 200 and an unreadable body 400,
    neither of which /openapi.json listed."""
    paths = web.client.get("/openapi.json").json()["paths"]
    assert {"200", "201", "400", "401", "403", "422"} <= set(paths["/api/sources"]["post"]["responses"])
    assert "400" in paths["/api/sources/{source_id}/mute"]["post"]["responses"]
    assert "400" in paths["/api/events/ack"]["post"]["responses"]
    kinds = paths["/api/sources/{source_id}/mute"]["post"]["requestBody"]["content"]["application/json"]
    assert kinds["schema"]["$ref"].endswith("/MuteIn")


def test_filters_match_whole_names_only(web: Web) -> None:
    """Regression: the kind and state patterns were unanchored, so ``kind=unchanged`` passed
    as a filter and quietly matched nothing."""
    for path in ("/api/events?kind=unchanged", "/api/events?kind=changed,dead", "/feed.atom?kind=xdead",
                 "/api/sources?state=alive-ish", "/events?kind=unchanged", "/?state=deadly"):
        assert web.client.get(path).status_code == 422, path
    assert len(web.client.get("/api/events?kind=changed").json()) == 2


def test_an_error_detail_keeps_its_closing_quote(web: Web) -> None:
    """Regression: error details were stripped of quotes at both ends, cutting the URL's
    closing quote off "not an http(s) URL: 'ftp://x'"."""
    answer = web.client.post("/sources", data={"url": "ftp://files.example/x"}, headers=web.auth)
    assert answer.status_code == 422
    assert one_line_detail(answer) == "not an http(s) URL: 'ftp://files.example/x'"
