"""HTML for the imitation news site: article pages, fronts, error pages and bot walls.

Every outlet page is wrapped in *chrome*: nav bar, ad slot, a "Most read" rail, a clock
line, a script nonce, a CSRF token and a ``__NEXT_DATA__`` state blob. On a churning
outlet the chrome is re-randomised for every request, so the raw bytes never repeat;
on a static outlet it is a pure function of the page, so the bytes change only when
the content does. The article content itself changes only through the control API
of :class:`tests.site.server.NewsSite`. Two templates exist per outlet (classic and
redesigned) that mark the same content up differently.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus

HTML_TYPE = "text/html; charset=utf-8"
SECTIONS = ("world", "politics", "business", "tech", "science", "sports", "culture")
DISPLAY_NAMES = {
    "apnews": "AP News", "reuters": "Reuters", "cnn": "CNN", "bbc": "BBC News",
    "guardian": "The Guardian", "nytimes": "The New York Times", "wapo": "The Washington Post",
    "npr": "NPR", "aljazeera": "Al Jazeera", "politico": "Politico",
}
EVERGREEN = (
    "How to read the fine print on your new phone contract",
    "The best hiking trails within two hours of the city",
    "Five questions to ask before refinancing your mortgage",
    "What the new school calendar means for working parents",
    "A guide to the week's most anticipated film releases",
    "Why grocery prices are still rising, explained in charts",
    "The quiet comeback of the neighbourhood bookshop",
)
LATEST = 5  # headlines on dead-end and search pages
_MARK = "<!--__NEXT_DATA__-->"


@dataclass(frozen=True)
class Article:
    """One story as the outlet's CMS holds it; ``path`` is where the outlet serves it."""

    slug: str
    headline: str
    byline: str
    published: datetime
    paragraphs: tuple[str, ...]
    section: str = "news"
    modified: datetime | None = None
    embed: str = ""  # raw HTML at the end of <body>: a third-party script, say (not article text)

    @property
    def path(self) -> str:
        return f"/article/{self.slug}"

    @property
    def text(self) -> str:
        """The article body as trafilatura should extract it: paragraphs, one per line."""
        return "\n".join(self.paragraphs)

    @property
    def last_modified(self) -> datetime:
        return self.modified or self.published


@dataclass(frozen=True)
class Brand:
    """The outlet a page is rendered for: its name, public base URL and template."""

    name: str
    base_url: str
    redesigned: bool = False

    @property
    def display(self) -> str:
        return DISPLAY_NAMES.get(self.name, self.name.replace("-", " ").title())


@dataclass(frozen=True)
class Chrome:
    """Per-response page furniture around the content."""

    nonce: str
    csrf: str
    ad_id: str
    clock: str  # "Updated N minutes ago · <now>"; empty on static outlets
    most_read: tuple[tuple[str, str], ...]  # (href, headline)
    page_bytes: int  # pad the page to about this size with the state blob (0: no padding)
    seed: str | None = None  # None: the padding is random on every request


def churning_chrome(pool: Sequence[Article], exclude: str, page_bytes: int) -> Chrome:
    """Fresh random chrome: new nonce/token/ad id, clock, and a reshuffled rail."""
    picks = [a for a in random.sample(list(pool), min(len(pool), 6)) if a.path != exclude][:5]
    rail = [(a.path, a.headline) for a in picks]
    fill = random.sample(EVERGREEN, 5 - len(rail))
    rail += [(f"/section/{random.choice(SECTIONS)}", h) for h in fill]
    now = datetime.now(UTC)
    clock = f"Updated {random.randint(1, 59)} minutes ago · {now:%A, %d %B %Y %H:%M:%S.%f} UTC"
    return Chrome(
        nonce=os.urandom(12).hex(), csrf=base64.urlsafe_b64encode(os.urandom(24)).decode(),
        ad_id=os.urandom(6).hex(), clock=clock, most_read=tuple(rail), page_bytes=page_bytes,
    )


def fixed_chrome(key: str, page_bytes: int) -> Chrome:
    """Chrome that depends only on ``key``: identical bytes for identical content."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    rail = tuple((f"/section/{SECTIONS[i]}", h) for i, h in enumerate(EVERGREEN[:5]))
    return Chrome(nonce=digest[:24], csrf=digest[24:56], ad_id=digest[56:], clock="",
                  most_read=rail, page_bytes=page_bytes, seed=digest)


# ---------------------------------------------------------------- outlet pages


def article_page(brand: Brand, art: Article, chrome: Chrome) -> bytes:
    """The full article page: metadata in head, story markup in the template's style."""
    body = _story_v2(art) if brand.redesigned else _story_v1(art)
    state: dict[str, object] = {"page": "article", "slug": art.slug, "section": art.section,
                                "headline": art.headline, "paragraphs": list(art.paragraphs)}
    title = f"{art.headline} | {brand.display}"
    return _page(brand, chrome, title, _article_head(brand, art), body + art.embed, state)


def front_page(brand: Brand, arts: Sequence[Article], chrome: Chrome, section: str = "") -> bytes:
    """Homepage (``section`` empty) or a section front: links to articles, newest first."""
    heading = section.title() if section else "Latest news"
    items = "".join(
        f'<li class="river-item"><a href="{escape(a.path)}">{escape(a.headline)}</a> '
        f'<time datetime="{a.published.isoformat()}">{_date(a.published)}</time></li>\n'
        for a in reversed(arts)
    )
    main = f'<section class="river"><h1>{escape(heading)}</h1>\n<ul>\n{items}</ul></section>'
    title = f"{heading} | {brand.display}" if section else f"{brand.display} | Breaking News"
    return _page(brand, chrome, title, "", main, {"page": "front", "section": section})


def not_found_page(brand: Brand, chrome: Chrome) -> bytes:
    """The outlet's own 404 template; served with 200 it is a soft 404."""
    main = ('<div class="error-page"><h1>Sorry, we couldn\'t find that page</h1>\n'
            "<p>The page you requested may have moved or no longer exists.</p>\n"
            '<p><a href="/">Go to the homepage</a></p></div>')
    return _page(brand, chrome, f"Page Not Found | {brand.display}", "", main, {"page": "404"})


def gone_page(brand: Brand, chrome: Chrome) -> bytes:
    """Page for an article the outlet has deliberately taken down (410)."""
    main = ('<div class="error-page"><h1>This article has been removed</h1>\n'
            "<p>This content is no longer available.</p></div>")
    return _page(brand, chrome, f"Content Removed | {brand.display}", "", main, {"page": "410"})


def dead_end_page(brand: Brand, chrome: Chrome, pool: Sequence[Article]) -> bytes:
    """The generic 200 page a soft-404 host serves for any unknown path: it names no error,
    and its text is the same whatever the path (the latest headlines, newest first)."""
    items = "".join(f'<li><a href="{escape(a.path)}">{escape(a.headline)}</a></li>\n'
                    for a in list(pool)[::-1][:LATEST])
    main = ('<div class="dead-end"><h1>Hmm, nothing to read here</h1>\n'
            "<p>We looked everywhere, but there is nothing at this address right now. Our "
            "newsroom publishes new reporting every hour, so there is always something else "
            "worth your time.</p>\n"
            f"<p>Try our latest stories instead.</p>\n<ul>\n{items}</ul></div>")
    return _page(brand, chrome, f"Oops | {brand.display}", "", main, {"page": "dead-end"})


def search_page(brand: Brand, words: Sequence[str], pool: Sequence[Article],
                chrome: Chrome) -> bytes:
    """Site search for ``words``: headlines that contain any of them, else the latest ones."""
    wanted = {w.lower() for w in words}
    newest = list(pool)[::-1]
    hits = [a for a in newest if wanted & set(f"{a.headline} {a.slug}".lower().replace("-", " ").split())]
    query = " ".join(words)
    items = "".join(f'<li class="result"><a href="{escape(a.path)}">{escape(a.headline)}</a></li>\n'
                    for a in (hits or newest)[:LATEST])
    main = (f'<section class="search-results"><h1>Search results for "{escape(query)}"</h1>\n'
            f"<ul>\n{items}</ul></section>")
    return _page(brand, chrome, f"Search: {query} | {brand.display}", "", main,
                 {"page": "search", "query": query})


# ------------------------------------------------------------ non-outlet pages


def bot_wall(status: int) -> bytes:
    """A CDN-style bot wall ("Access denied", captcha) with a random reference number."""
    ref = f"18.{os.urandom(4).hex()}.{random.randint(10**9, 10**10)}"
    return (
        "<!DOCTYPE html>\n<html><head><title>Access Denied</title></head><body>\n"
        f"<h1>Access denied</h1>\n<p>Error {status}. You don't have permission to access "
        "this page on this server.</p>\n<p>Please complete the security check to continue."
        '</p>\n<form class="challenge" method="post" action="/__challenge">'
        f'<div class="g-recaptcha" data-sitekey="{os.urandom(8).hex()}"></div>'
        '<button type="submit">I am human</button></form>\n'
        f"<p>Reference #{ref}</p>\n</body></html>\n"
    ).encode()


def status_page(status: int) -> bytes:
    """A bare server error page such as a load balancer returns (503, 500, 429 ...)."""
    try:
        line = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        line = f"{status} Error"
    return (f"<html><head><title>{line}</title></head><body><center><h1>{line}</h1>"
            "</center><hr><center>nginx</center></body></html>\n").encode()


def redirect_page(status: int, location: str) -> bytes:
    """The small body a server sends along with a redirect."""
    line = HTTPStatus(status).phrase
    return (f"<html><head><title>{status} {line}</title></head><body><h1>{line}</h1>"
            f'<p>The document has moved <a href="{escape(location)}">here</a>.</p>'
            "</body></html>\n").encode()


ROBOTS_TXT = b"User-agent: *\nAllow: /\n"


# ------------------------------------------------------------------ internals


def _date(when: datetime) -> str:
    return f"{when:%B} {when.day}, {when.year} {when:%H:%M} UTC"


def _author(byline: str) -> str:
    return byline.removeprefix("By ").removeprefix("by ").strip()


def _article_head(brand: Brand, art: Article) -> str:
    url = brand.base_url + art.path
    meta = [
        ("property", "og:title", art.headline), ("property", "og:type", "article"),
        ("property", "og:url", url), ("property", "og:site_name", brand.display),
        ("name", "author", _author(art.byline)),
        ("property", "article:published_time", art.published.isoformat()),
        ("property", "article:section", art.section.title()),
        ("name", "description", art.paragraphs[0][:160] if art.paragraphs else ""),
    ]
    if art.modified:
        meta.append(("property", "article:modified_time", art.modified.isoformat()))
    ld: dict[str, object] = {
        "@context": "https://schema.org", "@type": "NewsArticle", "headline": art.headline,
        "datePublished": art.published.isoformat(), "url": url,
        "dateModified": art.last_modified.isoformat(),
        "author": [{"@type": "Person", "name": _author(art.byline)}],
        "publisher": {"@type": "Organization", "name": brand.display},
    }
    tags = "".join(f'<meta {k}="{n}" content="{escape(v)}">\n' for k, n, v in meta)
    return (f'{tags}<link rel="canonical" href="{escape(url)}">\n'
            f'<script type="application/ld+json">{_json(ld)}</script>\n')


def _times(art: Article) -> str:
    out = f'<time datetime="{art.published.isoformat()}">{_date(art.published)}</time>'
    if art.modified:
        out += (f' <span class="updated">Updated <time datetime="{art.modified.isoformat()}">'
                f"{_date(art.modified)}</time></span>")
    return out


def _story_v1(art: Article) -> str:
    paras = "\n".join(f"<p>{escape(p)}</p>" for p in art.paragraphs)
    return (
        '<article class="story" itemscope itemtype="https://schema.org/NewsArticle">\n'
        f'<header class="story-header"><a class="kicker" href="/section/{escape(art.section)}">'
        f"{escape(art.section.title())}</a>\n"
        f'<h1 class="story-title" itemprop="headline">{escape(art.headline)}</h1>\n'
        f'<div class="byline"><span class="author" itemprop="author">{escape(art.byline)}'
        f"</span> {_times(art)}</div></header>\n"
        f'<div class="story-body" itemprop="articleBody">\n{paras}\n</div>\n</article>'
    )


def _story_v2(art: Article) -> str:
    paras = "\n".join(f'<p class="Paragraph">{escape(p)}</p>' for p in art.paragraphs)
    return (
        '<div class="Page-main" data-module="ArticlePage">\n<header class="Page-header">'
        f'<div class="Page-breadcrumbs">{escape(art.section.upper())}</div>\n'
        f'<h1 class="Page-title">{escape(art.headline)}</h1>\n'
        f'<div class="Page-byline"><span class="Link">{escape(art.byline)}</span></div>\n'
        f'<div class="Page-timestamp">{_times(art)}</div></header>\n'
        f'<div class="ArticleBody-articleBody" data-module="ArticleBody">\n{paras}\n</div>\n</div>'
    )


def _nav(redesigned: bool) -> str:
    if redesigned:
        links = "".join(f'<a class="NavLink" href="/section/{s}">{s.title()}</a>' for s in SECTIONS)
        return f'<div class="SiteHeader-nav" role="navigation">{links}</div>'
    links = "".join(f'<li><a href="/section/{s}">{s.title()}</a></li>' for s in SECTIONS)
    return f'<nav class="main-nav"><ul>{links}</ul></nav>'


def _rail(chrome: Chrome, redesigned: bool) -> str:
    items = "".join(f'<li><a href="{escape(h)}">{escape(t)}</a></li>' for h, t in chrome.most_read)
    if redesigned:
        return (f'<div class="PageGrid-rail" role="complementary"><div class="MostRead">'
                f'<h2 class="MostRead-title">Most read</h2><ol>{items}</ol></div></div>')
    return f'<aside class="rail most-read"><h2>Most read</h2><ol>{items}</ol></aside>'


def _page(brand: Brand, chrome: Chrome, title: str, head: str, main: str,
          state: dict[str, object]) -> bytes:
    """Wrap ``main`` in the outlet template and pad to the chrome's target size."""
    v2 = brand.redesigned
    config = _json({"requestId": chrome.nonce, "adUnit": chrome.ad_id, "csrf": chrome.csrf})
    clock = f'<div class="{"Banner" if v2 else "top-bar"}"><span>{chrome.clock}</span></div>\n'
    html = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'{head}<script nonce="{chrome.nonce}">window.__CONFIG__ = {config};</script>\n'
        f'</head>\n<body class="{"page-v2" if v2 else "classic"}">\n'
        f"{clock if chrome.clock else ''}"
        f'<header class="{"SiteHeader" if v2 else "site-header"}"><a class="logo" href="/">'
        f"{escape(brand.display)}</a>{_nav(v2)}</header>\n"
        f'<div class="{"AdSlot" if v2 else "ad-slot"}" id="ad-{chrome.ad_id}" '
        f'data-ad-unit="/{brand.name}/{chrome.ad_id}"><span>Advertisement</span></div>\n'
        f'<div class="{"PageGrid" if v2 else "layout"}">\n<main>\n{main}\n</main>\n'
        f"{_rail(chrome, v2)}\n</div>\n{_footer(brand, chrome)}{_MARK}\n</body>\n</html>\n"
    )
    blob = _next_data(chrome, state, chrome.page_bytes - len(html))
    return html.replace(_MARK, blob).encode()


def _footer(brand: Brand, chrome: Chrome) -> str:
    return (
        '<footer class="site-footer"><form class="newsletter" action="/subscribe" '
        f'method="post"><input type="hidden" name="csrf_token" value="{chrome.csrf}">'
        '<label>Get the morning briefing <input type="email" name="email"></label>'
        '<button type="submit">Sign up</button></form>\n<ul class="footer-links">'
        '<li><a href="/about">About us</a></li><li><a href="/privacy">Privacy</a></li>'
        f"<li><a href=\"/terms\">Terms</a></li></ul><small>© 2025 {escape(brand.display)}. "
        "All rights reserved.</small></footer>\n"
    )


def _next_data(chrome: Chrome, state: dict[str, object], room: int) -> str:
    """A Next.js-style state blob; when ``room`` > 0 it is padded to about that size."""
    data = _json({"props": {"pageProps": state}, "buildId": chrome.ad_id,
                  "requestId": chrome.nonce, "renderedAt": chrome.clock})
    size = room - len(data) - 20
    if size > 0:
        data = f'{data[:-1]},"cache":"{_noise(size, chrome.seed)}"}}'
    return f'<script id="__NEXT_DATA__" type="application/json">{data}</script>'


@functools.cache
def _noise_pool() -> str:
    return base64.b64encode(random.Random(0).randbytes(768 * 1024)).decode()  # 1 MiB of text


def _noise(size: int, seed: str | None) -> str:
    """``size`` base64 characters: a random slice of a fixed pool, or one chosen by ``seed``."""
    pool = _noise_pool()
    if size > len(pool) // 2:
        pool *= size // len(pool) + 2
    span = len(pool) - size
    start = int(seed[:12], 16) % span if seed else random.randrange(span)
    return pool[start:start + size]


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


# ---------------------------------------------------------- fake story text

_WHO = ("City officials", "The state's health department", "Federal regulators",
        "Local residents", "A coalition of farmers", "The company's board",
        "Researchers at the university", "Union representatives", "Emergency crews")
_DID = ("said they would review", "pushed back against", "announced plans to expand",
        "raised concerns about", "quietly delayed", "voted to approve",
        "called for an inquiry into", "warned of rising costs tied to", "released new figures on")
_WHAT = ("the long-awaited bridge repair programme", "a proposed tax on short-term rentals",
         "the closure of two rural hospitals", "new rules for delivery drones",
         "the water utility's pricing plan", "a pilot scheme for free school meals",
         "the merger between the two regional airlines", "flood defences along the river",
         "the city's aging bus fleet", "a data-sharing agreement with a cloud provider")
_TAIL = ("according to documents seen by reporters", "after months of public pressure",
         "despite objections from opposition lawmakers", "ahead of next month's budget vote",
         "citing figures from the past three years", "in a statement released late on Monday")


def fake_sentence(rng: random.Random) -> str:
    """One plausible news sentence."""
    return f"{rng.choice(_WHO)} {rng.choice(_DID)} {rng.choice(_WHAT)}, {rng.choice(_TAIL)}."


def fake_paragraph(rng: random.Random) -> str:
    """Two to four sentences of plausible news prose."""
    return " ".join(fake_sentence(rng) for _ in range(rng.randint(2, 4)))


def fake_story(rng: random.Random) -> tuple[str, list[str]]:
    """A headline and four to eight paragraphs."""
    headline = f"{rng.choice(_WHO)} {rng.choice(_DID)} {rng.choice(_WHAT)}"
    return headline, [fake_paragraph(rng) for _ in range(rng.randint(4, 8))]
