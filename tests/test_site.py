"""The imitation news site behaves like the real web the monitor will meet."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trafilatura

from monitor.fetch import classify_error
from monitor.health.signals import _NOT_FOUND
from monitor.settings import FetchSettings
from monitor.transport import Connections
from tests.site import NewsSite
from tests.site.network import client_context

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


@pytest.fixture
def net() -> Iterator[NewsSite]:
    """Outlets for link-health cases: named hosts, HTTPS and a soft-404 host."""
    with NewsSite(["gazette", "herald", "courier", "blog"], named_outlets={"gazette", "herald"},
                  tls_outlets={"herald", "courier"}, soft404_outlets={"blog"}) as news:
        yield news


def _text(html: str | bytes) -> str:
    return trafilatura.extract(html) or ""


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html)
    return found.group(1) if found else ""


LIBRARIES = pytest.mark.parametrize("library", ["httpcore", "aiohttp"])


def _run(site: NewsSite | None, scenario: Callable[[httpx.AsyncClient], Awaitable[None]],
         library: str = "httpcore") -> None:
    """Run ``scenario`` with an async client: through httpcore (the site's transport unless
    ``site`` is None) or through the monitor's aiohttp connections (monitor/transport.py) with
    the site's names and CA, so both libraries meet every failure and name it the same way."""
    async def main() -> None:
        transport: httpx.AsyncBaseTransport | None = site.transport() if site is not None else None
        if library == "aiohttp":
            transport = Connections(FetchSettings(http2=False),
                                    tls=client_context() if site is not None else None,
                                    resolver=site.resolver() if site is not None else None)
        async with httpx.AsyncClient(transport=transport, timeout=2.0) as http:
            await scenario(http)
    asyncio.run(main())


async def _failure(http: httpx.AsyncClient, url: str) -> tuple[str, str, list[BaseException]]:
    """How the fetch of ``url`` fails: the monitor's error class, message and the chain."""
    with pytest.raises(httpx.HTTPError) as caught:
        await http.get(url)
    chain: list[BaseException] = []
    exc: BaseException | None = caught.value
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return (*classify_error(caught.value), chain)


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


def test_redirects_to_section_search_and_not_found_page(site: NewsSite, url: str,
                                                        client: httpx.Client) -> None:
    base = site.base_url("apnews")
    site.redirect_section(url)
    resp = client.get(url)
    assert resp.status_code == 301 and resp.headers["location"] == base + "/section/tech"
    final = client.get(url, follow_redirects=True)
    assert final.status_code == 200 and 'href="/article/rednote-app"' in final.text
    site.redirect_search(url)
    resp = client.get(url)
    assert resp.status_code == 302 and resp.headers["location"] == base + "/search?q=rednote+app"
    final = client.get(url, follow_redirects=True)
    assert final.status_code == 200 and 'Search results for "rednote app"' in final.text
    assert "RedNote tops app store as TikTok ban looms" in final.text
    site.redirect_to_404_page(url)
    resp = client.get(url)
    assert resp.status_code == 302 and resp.headers["location"] == base + "/page-not-found"
    final = client.get(url, follow_redirects=True)
    assert final.status_code == 200 and _NOT_FOUND.search(_title(final.text))
    assert "Sorry, we couldn't find that page" in final.text
    site.restore(url)
    assert client.get(url).status_code == 200


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


@LIBRARIES
def test_drop_resets_the_connection_then_serves(site: NewsSite, url: str, library: str) -> None:
    site.drop(url, 2)

    # aiohttp sends a GET that met a reset once more by itself (RFC 9112, 9.3.1): one failure
    failures = 2 if library == "httpcore" else 1

    async def scenario(http: httpx.AsyncClient) -> None:
        assert (await http.get(site.base_url("apnews") + "/")).status_code == 200
        for _ in range(failures):
            error_class, _, _ = await _failure(http, url)
            assert error_class in {"reset", "protocol"}
        assert (await http.get(url)).status_code == 200

    _run(None, scenario, library)
    assert site.hits(url) == 3


@LIBRARIES
def test_named_outlets_resolve_only_through_the_site_transport(net: NewsSite, library: str) -> None:
    url = _publish(net, "gazette", "rednote-app")
    plain = _publish(net, "blog", "rednote-app")
    assert url.startswith("http://gazette.test:") and plain.startswith("http://127.0.0.1:")
    dns = ("dns", "[Errno -2] Name or service not known")

    async def scenario(http: httpx.AsyncClient) -> None:
        assert _text((await http.get(url)).text) == "\n".join(PARAGRAPHS)  # kept alive
        assert (await http.get(plain)).status_code == 200
        net.dns_fail("gazette")
        error_class, message, chain = await _failure(http, url)
        assert (error_class, message) == dns
        assert isinstance(chain[0], httpx.ConnectError)
        assert any(isinstance(e, socket.gaierror) for e in chain)
        assert (await http.get(plain)).status_code == 200
        net.dns_fail("gazette", broken=False)
        assert (await http.get(url)).status_code == 200
        port = plain.split(":")[2].split("/")[0]
        for name in ("nosuch.test", "blog.test"):  # unknown, and an outlet that is not named
            assert (await _failure(http, f"http://{name}:{port}/"))[:2] == dns

    _run(net, scenario, library)
    assert net.hits(url) == 2 and net.article(url).slug == "rednote-app"
    with pytest.raises(ValueError):
        net.dns_fail("blog")


@LIBRARIES
def test_tls_outlets_and_a_broken_certificate(net: NewsSite, capfd: pytest.CaptureFixture[str],
                                              library: str) -> None:
    named, by_ip = _publish(net, "herald", "rednote-app"), _publish(net, "courier", "rednote-app")
    assert named.startswith("https://herald.test:") and by_ip.startswith("https://127.0.0.1:")
    assert net.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")

    async def scenario(http: httpx.AsyncClient) -> None:
        assert _text((await http.get(named)).text) == "\n".join(PARAGRAPHS)  # kept alive
        assert (await http.get(by_ip)).status_code == 200
        net.tls_break("herald")
        error_class, message, _ = await _failure(http, named)
        assert error_class == "tls" and "CERTIFICATE_VERIFY_FAILED" in message
        assert (await http.get(by_ip)).status_code == 200
        net.tls_break("herald", broken=False)
        assert (await http.get(named)).status_code == 200
        net.drop(named, 1 if library == "httpcore" else 2)  # aiohttp resends a GET once
        assert (await _failure(http, named))[0] in {"reset", "protocol"}
        assert (await http.get(named)).status_code == 200

    async def untrusting(http: httpx.AsyncClient) -> None:
        assert (await _failure(http, by_ip))[0] == "tls"

    _run(net, scenario, library)
    _run(None, untrusting, library)
    time.sleep(0.05)  # let the server threads finish the refused handshakes
    assert capfd.readouterr().err == ""
    with pytest.raises(ValueError):
        net.tls_break("gazette")


@LIBRARIES
def test_outage_on_tls_and_named_outlets(net: NewsSite, library: str) -> None:
    named, by_ip = _publish(net, "herald", "rednote-app"), _publish(net, "courier", "rednote-app")

    async def scenario(http: httpx.AsyncClient) -> None:
        assert (await http.get(named)).status_code == (await http.get(by_ip)).status_code == 200
        net.outage(True)
        assert (await _failure(http, named))[0] == (await _failure(http, by_ip))[0] == "refused"
        net.outage(False)
        assert (await http.get(named)).status_code == (await http.get(by_ip)).status_code == 200

    _run(net, scenario, library)


def test_soft404_outlet_answers_any_path_with_one_dead_end_page(net: NewsSite,
                                                                client: httpx.Client) -> None:
    url, base = _publish(net, "blog", "rednote-app"), net.base_url("blog")
    probes = [client.get(base + path) for path in ("/article/qz8x7w3k", "/no/such/page",
                                                   "/section/nonsense")]
    assert {r.status_code for r in probes} == {200}
    assert {_title(r.text) for r in probes} == {"Oops | Blog"}
    assert "<h1>Hmm, nothing to read here</h1>" in probes[0].text
    assert "RedNote tops app store as TikTok ban looms" in probes[0].text
    texts = {_text(r.text) for r in probes}
    assert len(texts) == 1
    text = texts.pop()
    assert text.startswith("Hmm, nothing to read here") and "Try our latest stories instead." in text
    assert not _NOT_FOUND.search("Oops | Blog")
    assert not any(_NOT_FOUND.search(line) for line in text.splitlines())
    assert _text(client.get(url).text) == "\n".join(PARAGRAPHS)
    assert client.get(base + "/").status_code == client.get(base + "/section/tech").status_code == 200
    assert client.get(base + "/robots.txt").text == "User-agent: *\nAllow: /\n"
    net.soft404(url, generic=True)
    retired = client.get(url)
    assert retired.status_code == 200 and _title(retired.text) == "Oops | Blog"
    assert _text(retired.text) == text


def test_generic_soft404_on_an_ordinary_outlet(site: NewsSite, url: str, client: httpx.Client) -> None:
    site.soft404(url, generic=True)
    resp = client.get(url)
    assert resp.status_code == 200 and _title(resp.text) == "Oops | AP News"
    assert not _NOT_FOUND.search(_title(resp.text))
    assert client.get(site.base_url("apnews") + "/article/qz8x7w3k").status_code == 404
    site.soft404(url)
    assert _title(client.get(url).text) == "Page Not Found | AP News"


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
