"""Canonical URLs and the links of a citing document (what `monitor import` reads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.urls import BadURL, canonicalize, host_of, links_in
from tests.conftest import SEED_URL_COUNT


@pytest.mark.parametrize(("given", "canonical"), [
    ("HTTPS://WWW.TheAtlantic.com/technology/archive/2025/01/x/681344/?utm_source=apple_news",
     "https://www.theatlantic.com/technology/archive/2025/01/x/681344/"),
    ("http://example.com:80/a?b=2&a=1#frag", "http://example.com/a?b=2&a=1"),
    ("https://example.com:8443/a?fbclid=x&id=7&gclid=y", "https://example.com:8443/a?id=7"),
    ("https://example.com", "https://example.com/"),
])
def test_canonical_urls_drop_only_noise(given: str, canonical: str) -> None:
    assert canonicalize(given) == canonical


@pytest.mark.parametrize("bad", ["ftp://example.com/x", "not a url", "https://", "mailto:a@b.c"])
def test_non_http_urls_are_refused(bad: str) -> None:
    with pytest.raises(BadURL):
        canonicalize(bad)


def test_host_is_the_authority() -> None:
    assert host_of("https://apnews.com/article/1") == "apnews.com:443"
    assert host_of("http://127.0.0.1:8001/a") == "127.0.0.1:8001"


def test_importing_the_seed_source_list_yields_exactly_its_ten_urls(seed: Path) -> None:
    links = links_in(seed.read_text(encoding="utf-8"))
    assert len(links) == SEED_URL_COUNT
    assert len({link.url for link in links}) == SEED_URL_COUNT
    atlantic = [link.url for link in links if "theatlantic" in link.url]
    assert atlantic == [
        "https://www.theatlantic.com/technology/archive/2025/01/"
        "tiktok-exodus-rednote-instagram/681344/"
    ]


def test_markdown_links_keep_their_text_and_are_deduplicated() -> None:
    doc = (
        "As [AP reported](https://apnews.com/article/abc?utm_medium=social), RedNote grew. "
        "See also <https://apnews.com/article/abc> and https://www.cnn.com/x.html.\n"
        "Footnote: (https://www.reuters.com/tech/y-2025-01-15/)."
    )
    links = links_in(doc)
    assert [link.url for link in links] == [
        "https://apnews.com/article/abc", "https://www.cnn.com/x.html",
        "https://www.reuters.com/tech/y-2025-01-15/",
    ]
    assert links[0].title == "AP reported"


def test_html_document_links() -> None:
    doc = """<!doctype html><html><body><p>Per <a href="https://www.nytimes.com/a.html">the
    Times</a> and <a href="https://proton.me/blog/x#top">Proton</a>,
    <a href="/relative">local</a> <a href="mailto:x@y.z">mail</a></p></body></html>"""
    links = links_in(doc)
    assert [(link.url, link.title) for link in links] == [
        ("https://www.nytimes.com/a.html", "the Times"),
        ("https://proton.me/blog/x", "Proton"),
    ]


def test_plain_url_list() -> None:
    text = "https://a.example/1\nhttps://b.example/2\n\nhttps://a.example/1\n"
    assert [link.url for link in links_in(text, kind="text")] == [
        "https://a.example/1", "https://b.example/2"]
