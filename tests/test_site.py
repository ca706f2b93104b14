"""The imitation news site behaves like the real web the monitor will meet."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trafilatura

from tests.site import NewsSite

PARAGRAPHS = [
    "TikTok users are flocking to RedNote, a Chinese social media app, ahead of a possible "
    "US ban on the video platform that could take effect as soon as this weekend.",
    "The app, known as Xiaohongshu in China, climbed to the top of Apple's US app store on "
    "Monday, according to data from the company, as users sought an alternative.",
    "Analysts said the surge was unlikely to last, noting that the app is largely in "
    "Mandarin and that its moderation rules differ sharply from those of its rivals.",
]
PUBLISHED = datetime(2025, 1, 14, 9, 30, tzinfo=UTC)


def _publish(site: NewsSite, outlet: str, slug: str, headline: str = "RedNote tops app "
             "store as TikTok ban looms", section: str = "tech") -> str:
    return site.add_article(outlet, slug, headline=headline, byline="By Jane Roe",
                            published=PUBLISHED, paragraphs=PARAGRAPHS, section=section)


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite(outlets=["apnews", "reuters", "cnn"], static_outlets={"reuters"},
                  gzip_outlets={"cnn"}) as news:
        for i in range(6):
            _publish(news, "apnews", f"other-{i}", headline=f"Other story number {i} today",
                     section="world")
        yield news


@pytest.fixture
def url(site: NewsSite) -> str:
    return _publish(site, "apnews", "rednote-app")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def _text(html: str | bytes) -> str:
    return trafilatura.extract(html) or ""


def test_article_page_carries_news_metadata(site: NewsSite, url: str,
                                            client: httpx.Client) -> None:
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert int(resp.headers["content-length"]) == len(resp.content)
    html = resp.text
    assert "<title>RedNote tops app store as TikTok ban looms | AP News</title>" in html
    assert 'property="og:title" content="RedNote tops app store' in html
    assert f'property="article:published_time" content="{PUBLISHED.isoformat()}"' in html
    assert 'name="author" content="Jane Roe"' in html
    assert "article:modified_time" not in html
    assert re.search(r'<script nonce="\w+">', html)
    assert 'name="csrf_token"' in html
    found = re.search(r'application/ld\+json">(.*?)</script>', html)
    assert found is not None
    ld = json.loads(found.group(1))
    assert ld["@type"] == "NewsArticle" and ld["datePublished"] == PUBLISHED.isoformat()
    assert ld["author"][0]["name"] == "Jane Roe"
    assert f'<time datetime="{PUBLISHED.isoformat()}">' in html
    assert url == f"{site.base_url('apnews')}/article/rednote-app"


def test_chrome_churns_but_extracted_text_does_not(url: str, client: httpx.Client) -> None:
    first, second = client.get(url).content, client.get(url).content
    assert first != second
    assert _text(first) == _text(second) == "\n".join(PARAGRAPHS)
    for chrome in ("Most read", "Other story", "Advertisement", "minutes ago", "Jane Roe"):
        assert chrome not in _text(first)


def test_page_kb_pads_with_a_churning_state_blob(client: httpx.Client) -> None:
    with NewsSite(["apnews"], page_kb=60) as site:
        url = _publish(site, "apnews", "big")
        first, second = client.get(url).content, client.get(url).content
    assert 55_000 < len(first) < 65_000
    assert b'<script id="__NEXT_DATA__" type="application/json">' in first
    assert first != second
    assert _text(first) == _text(second) == "\n".join(PARAGRAPHS)


def test_edits_change_extracted_text(site: NewsSite, url: str, client: httpx.Client) -> None:
    site.edit(url, append="Update: the company said the figures were preliminary.")
    html = client.get(url).text
    assert _text(html) == "\n".join([*PARAGRAPHS, site.article(url).paragraphs[-1]])
    assert 'property="article:modified_time"' in html
    rewritten = [*PARAGRAPHS[:2], "The final paragraph was rewritten to soften the claim."]
    site.edit(url, paragraphs=rewritten, headline="RedNote slips",
              modified=datetime(2025, 1, 16, tzinfo=UTC))
    html = client.get(url).text
    assert _text(html) == "\n".join(rewritten)
    assert "<title>RedNote slips | AP News</title>" in html
    assert 'content="2025-01-16T00:00:00+00:00"' in html
    site.edit(url, byline="By John Doe", stealth=True)
    assert 'content="2025-01-16T00:00:00+00:00"' in client.get(url).text


def test_removed_pages_and_unknown_paths(site: NewsSite, url: str, client: httpx.Client) -> None:
    site.set_status(url, 404)
    resp = client.get(url)
    assert resp.status_code == 404 and "Sorry, we couldn't find that page" in resp.text
    site.set_status(url, 410)
    resp = client.get(url)
    assert resp.status_code == 410 and "This article has been removed" in resp.text
    assert client.get(site.base_url("apnews") + "/no/such/page").status_code == 404
    site.restore(url)
    assert _text(client.get(url).text) == "\n".join(PARAGRAPHS)


def test_soft404_is_a_200_not_found_page(site: NewsSite, url: str,
                                         client: httpx.Client) -> None:
    site.soft404(url)
    resp = client.get(url)
    assert resp.status_code == 200
    assert "<title>Page Not Found | AP News</title>" in resp.text
    assert "<h1>Sorry, we couldn't find that page</h1>" in resp.text


def test_redirects(site: NewsSite, url: str, client: httpx.Client) -> None:
    moved = site.add_article("apnews", "rednote-app-v2", headline="RedNote moved",
                             paragraphs=PARAGRAPHS)
    for code in (301, 302, 307, 308):
        site.redirect(url, moved, code=code)
        resp = client.get(url)
        assert resp.status_code == code and resp.headers["location"] == moved
    final = client.get(url, follow_redirects=True)
    assert str(final.url) == moved and final.status_code == 200
    site.redirect_home(url)
    resp = client.get(url)
    assert resp.status_code == 301
    assert resp.headers["location"] == site.base_url("apnews") + "/"
    with pytest.raises(ValueError):
        site.redirect(url, moved, code=200)


def test_bot_walls(site: NewsSite, url: str, client: httpx.Client) -> None:
    site.block(url)
    resp = client.get(url)
    assert resp.status_code == 403 and "Access denied" in resp.text and "captcha" in resp.text
    site.block(url, status=401)
    assert client.get(url).status_code == 401


def test_flaky_then_normal_with_retry_after(site: NewsSite, url: str,
                                            client: httpx.Client) -> None:
    site.flaky(url, statuses=[503, 429], retry_after=120)
    first, second, third = client.get(url), client.get(url), client.get(url)
    assert (first.status_code, second.status_code, third.status_code) == (503, 429, 200)
    assert first.headers["retry-after"] == "120" and "retry-after" not in third.headers
    assert site.hits(url) == 3


def test_outage_refuses_connections_and_reopens_same_ports(site: NewsSite, url: str,
                                                           client: httpx.Client) -> None:
    assert client.get(url).status_code == 200  # leaves a kept-alive connection behind
    bases = {name: site.base_url(name) for name in site.outlets}
    site.outage(True)
    for base in bases.values():
        with pytest.raises(httpx.ConnectError):
            client.get(base + "/")
    site.outage(False)
    assert {name: site.base_url(name) for name in site.outlets} == bases
    assert client.get(url).status_code == 200
    site.outage(True, outlet="cnn")
    with pytest.raises(httpx.ConnectError):
        client.get(bases["cnn"] + "/")
    assert client.get(url).status_code == 200


def test_static_outlet_is_byte_stable_and_answers_conditionals(site: NewsSite,
                                                               client: httpx.Client) -> None:
    url = _publish(site, "reuters", "rednote-app")
    first, second = client.get(url), client.get(url)
    assert first.content == second.content
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert modified == "Tue, 14 Jan 2025 09:30:00 GMT"
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    site.edit(url, append="Update: a new paragraph with more details about the app.")
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 200
    assert site.requests(url)[-1]["headers"]["if-modified-since"] == modified


def test_gzip_outlet(site: NewsSite, client: httpx.Client) -> None:
    url = _publish(site, "cnn", "rednote-app")
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as resp:
        raw = b"".join(resp.iter_raw())
    assert resp.headers["content-encoding"] == "gzip"
    assert int(resp.headers["content-length"]) == len(raw)
    assert _text(gzip.decompress(raw)) == "\n".join(PARAGRAPHS)
    decoded = client.get(url)
    assert _text(decoded.text) == "\n".join(PARAGRAPHS)
    assert site.last_body(url) == decoded.content
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and b"<html" in plain.content


def test_hang_makes_a_short_timeout_fire(site: NewsSite, url: str) -> None:
    site.hang(url, seconds=5.0)
    started = time.monotonic()
    with httpx.Client(timeout=0.3) as http, pytest.raises(httpx.TimeoutException):
        http.get(url)
    site.stop()
    assert time.monotonic() - started < 2.0


def test_redesign_changes_markup_not_text(site: NewsSite, url: str,
                                          client: httpx.Client) -> None:
    before = client.get(url).text
    site.redesign("apnews", True)
    after = client.get(url).text
    assert 'class="story-body"' in before and 'class="story-body"' not in after
    assert 'class="main-nav"' in before and "SiteHeader-nav" in after
    assert _text(before) == _text(after) == "\n".join(PARAGRAPHS)
    site.redesign("apnews", False)
    assert 'class="story-body"' in client.get(url).text


def test_replace_serves_another_article_until_restored(site: NewsSite, url: str,
                                                       client: httpx.Client) -> None:
    other = ["A completely different story about the regional transit budget, which the "
             "council approved late on Tuesday after a lengthy and heated debate.",
             "Opponents said the plan would raise fares for commuters in outlying towns while "
             "doing little to fix the ageing fleet of buses and trains."]
    site.replace(url, "Council passes transit budget", other)
    html = client.get(url).text
    assert "Council passes transit budget" in html and _text(html) == "\n".join(other)
    site.restore(url)
    assert _text(client.get(url).text) == "\n".join(PARAGRAPHS)


def test_request_log_hits_and_last_body(site: NewsSite, url: str, client: httpx.Client) -> None:
    resp = client.get(url + "?utm_source=x", headers={"User-Agent": "SourceMonitor/0.1",
                                                      "If-None-Match": '"abc"'})
    log = site.requests(url)
    assert site.hits(url) == 1 and log[0]["method"] == "GET"
    assert log[0]["path"] == "/article/rednote-app?utm_source=x"
    assert log[0]["headers"]["user-agent"] == "SourceMonitor/0.1"
    assert log[0]["headers"]["if-none-match"] == '"abc"'
    assert site.last_body(url) == resp.content
    head = client.head(url)
    assert head.content == b"" and int(head.headers["content-length"]) > 1000
    assert site.last_body(url) == resp.content


def test_fronts_robots_and_urls(site: NewsSite, url: str, client: httpx.Client) -> None:
    base = site.base_url("apnews")
    home = client.get(base + "/").text
    assert all(f'href="/article/{slug}"' in home for slug in ("rednote-app", "other-0"))
    tech = client.get(base + "/section/tech").text
    assert 'href="/article/rednote-app"' in tech and "other-0" not in tech.split("Most read")[0]
    robots = client.get(base + "/robots.txt")
    assert robots.text == "User-agent: *\nAllow: /\n"
    assert robots.headers["content-type"].startswith("text/plain")
    assert len(set(map(site.base_url, site.outlets))) == 3
    assert site.urls()[-1] == url and len(site.urls()) == 7


def test_standalone_runner(tmp_path: Path, client: httpx.Client) -> None:
    urls_file = tmp_path / "urls.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.site", "--outlets", "2", "--articles", "6",
         "--urls-file", str(urls_file), "--page-kb", "20"],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().split() for _ in range(2)]  # type: ignore[union-attr]
        urls = urls_file.read_text().split()
        assert [name for name, _ in lines] == ["apnews", "reuters"] and len(urls) == 6
        page = client.get(urls[0])
        assert page.status_code == 200 and len(page.content) > 19_000
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()  # type: ignore[union-attr]
