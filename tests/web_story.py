"""A home with a story to show on the dashboard: an article edited twice, one that died,
a static one, and one whose page carries a hostile script (to prove the sandbox).

Shared by the web API tests, the browser tests and the README screenshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from monitor.clock import ManualClock
from monitor.home import Home
from monitor.store import session
from monitor.store.models import Source
from tests.conftest import PARAGRAPHS, add_sources, one_pass, publish
from tests.site.server import NewsSite

# What a hostile archived page tries: read the dashboard through the parent, call the API
# with the user's cookie, submit a form, load images from the dashboard's origin. Every
# attempt that could work would show up as a request to /canary/… or /api/… on the server.
HOSTILE = (
    '<script>try { parent.document.title = "PWNED"; } catch (e) {}'
    'fetch("/api/sources", {method: "POST", credentials: "include", headers: '
    '{"Content-Type": "application/json"}, body: JSON.stringify({url: "https://evil.example/x"})})'
    '.then(function () { new Image().src = "/canary/fetch-worked"; });'
    'document.cookie = "stolen=1"; new Image().src = "/canary/script-ran?c=" + document.cookie;'
    "</script>"
    '<img src="/canary/img" alt="">'
    '<form id="evil" method="post" action="/sources/1/remove"><input name="csrf" value="x"></form>'
    '<script>document.getElementById("evil").submit();</script>'
)


@dataclass
class Story:
    edited: int
    dead: int
    static: int
    hostile: int
    urls: dict[int, str]


def write_story(site: NewsSite, home: Home, clock: ManualClock) -> Story:
    """Two days of checks every 12 hours: 3 versions, a 410 turned dead, a quiet page."""
    edited = publish(site, "apnews", "rednote-migration", headline="What is RedNote?")
    dead = publish(site, "cnn", "tiktok-ban-vote", headline="House votes on TikTok bill")
    static = publish(site, "reuters", "rednote-users", headline="RedNote tops app charts")
    hostile = site.add_article("cnn", "lemon8-rises", headline="Lemon8 rises as TikTok waits",
                               byline="By Jane Roe", paragraphs=PARAGRAPHS, embed=HOSTILE)
    ids = add_sources(home, clock, edited, dead, static, hostile)
    with session(home.engine) as db:
        for source_id, outlet in zip(ids, ("AP", "CNN", "Reuters", "CNN"), strict=True):
            row = db.get(Source, source_id)
            assert row is not None
            row.outlet = outlet
        db.commit()
    step = timedelta(hours=12)
    one_pass(home, clock, ids, timedelta(0))
    site.edit(edited, headline="The great social media migration to RedNote",
              append="Correction: An earlier version of this story misstated the number of users.")
    site.set_status(dead, 410)
    one_pass(home, clock, ids, step)
    one_pass(home, clock, ids, step)
    site.edit(edited, paragraphs=[p.replace("700,000", "over 3 million") for p in
                                  site.article(edited).paragraphs])
    for _ in range(3):
        one_pass(home, clock, ids, step)
    return Story(*ids, urls=dict(zip(ids, (edited, dead, static, hostile), strict=True)))
