"""Coverage changes end to end: each class of edit made on the local site, through
``check_source`` (fetch, extraction, compare), must raise one ``changed`` event with its
classification; churn, redesigns, date bumps and flip-flops must raise nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from monitor.clock import ManualClock
from monitor.home import Home
from tests.conftest import PARAGRAPHS, add_sources, events_of, one_pass, publish
from tests.site import NewsSite

P0, P1, P2, P3 = PARAGRAPHS
Edit = Callable[[NewsSite, str], None]

EDITS: dict[str, tuple[Edit, str, str]] = {
    # class: (the edit, the expected class, the lowest severity acceptable)
    "headline": (lambda s, u: s.edit(u, headline="RedNote tops app charts as TikTok ban looms"),
                 "headline", "major"),
    "lede": (lambda s, u: s.edit(u, paragraphs=[
        P0.replace("before the influx, the company said on Tuesday",
                   "before the influx, according to the company"), P1, P2, P3]), "lede", "minor"),
    "paragraphs_added": (lambda s, u: s.edit(u, paragraphs=[
        P0, P1, "Downloads of other Chinese apps, including Lemon8, also rose sharply over the "
        "weekend, according to market researchers who track the app stores.", P2, P3]),
        "paragraphs_added", "major"),
    "paragraphs_removed": (lambda s, u: s.edit(u, paragraphs=[P0, P1, P3]),
                           "paragraphs_removed", "major"),
    "sentences_edited": (lambda s, u: s.edit(u, paragraphs=[
        P0, P1, P2, P3.replace("was unlikely to last", "could fade within weeks")]),
        "sentences_edited", "minor"),
    "numbers": (lambda s, u: s.edit(u, paragraphs=[P0, P1.replace("700,000", "3 million"), P2, P3]),
                "numbers", "major"),
    "quotes": (lambda s, u: s.edit(u, paragraphs=[
        P0, P1, P2.replace("cultural exchange", "real cultural moment"), P3]), "quotes", "major"),
    "correction": (lambda s, u: s.edit(u, append="Correction: An earlier version of this article "
                                       "misstated the number of new users."), "correction", "critical"),
    "byline": (lambda s, u: s.edit(u, byline="By John Smith and Jane Roe"), "byline", "minor"),
    "minor": (lambda s, u: s.edit(u, paragraphs=[P0, P1, P2, P3.replace("incoming", "incomming")]),
              "minor", "minor"),
    "stealth": (lambda s, u: s.edit(u, paragraphs=[P0, P1.replace("two days", "three days"), P2, P3],
                                    stealth=True), "numbers", "major"),
}
ORDER = ("info", "minor", "major", "critical")


@pytest.mark.parametrize("name", list(EDITS))
def test_each_kind_of_edit_is_one_classified_change(
    name: str, site: NewsSite, home: Home, clock: ManualClock
) -> None:
    edit, expected, lowest = EDITS[name]
    url = publish(site, "cnn", f"story-{name.replace('_', '-')}")
    [sid] = add_sources(home, clock, url)
    one_pass(home, clock, [sid])
    one_pass(home, clock, [sid])  # churned page, same article: nothing
    edit(site, url)
    one_pass(home, clock, [sid])
    one_pass(home, clock, [sid])  # the edited article again, churned: nothing more
    kinds = [e.kind for e in events_of(home)]
    assert kinds == ["archived", "changed"], kinds
    [changed] = events_of(home, "changed")
    assert expected in changed.details["classification"], changed.details["classification"]
    assert ORDER.index(changed.severity) >= ORDER.index(lowest), changed.severity
    if name == "minor":
        assert changed.severity == "minor" and changed.details["classification"] == ["minor"]


def test_a_figure_or_correction_outranks_a_typo(site: NewsSite, home: Home, clock: ManualClock) -> None:
    urls = [publish(site, "apnews", f"rank-{n}") for n in range(3)]
    ids = add_sources(home, clock, *urls)
    one_pass(home, clock, ids)
    EDITS["minor"][0](site, urls[0])
    EDITS["numbers"][0](site, urls[1])
    EDITS["correction"][0](site, urls[2])
    one_pass(home, clock, ids)
    severity = {e.source_id: ORDER.index(e.severity) for e in events_of(home, "changed")}
    assert severity[ids[0]] < severity[ids[1]] < severity[ids[2]]


def test_churn_redesign_and_date_bumps_raise_nothing(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    urls = [publish(site, outlet, "steady") for outlet in site.outlets]
    ids = add_sources(home, clock, *urls)
    one_pass(home, clock, ids)
    one_pass(home, clock, ids)  # churn: rails, timestamps and nonces differ on every fetch
    for outlet in site.outlets:
        site.redesign(outlet)  # another template, the same articles
    one_pass(home, clock, ids)
    for url in urls:
        site.edit(url, modified=datetime(2025, 1, 16, 8, 0, tzinfo=UTC))  # "updated" stamp only
    one_pass(home, clock, ids)
    assert [e.kind for e in events_of(home)] == ["archived"] * len(ids)


def test_extraction_that_finds_a_fraction_of_the_text_is_a_problem_not_a_deletion(
    site: NewsSite, home: Home, clock: ManualClock
) -> None:
    url = publish(site, "apnews", "client-rendered")
    [sid] = add_sources(home, clock, url)
    one_pass(home, clock, [sid])
    site.edit(url, paragraphs=["Loading the story…"], stealth=True)
    one_pass(home, clock, [sid])
    assert [e.kind for e in events_of(home)] == ["archived", "extraction_failed"]
    site.edit(url, paragraphs=PARAGRAPHS, stealth=True)
    one_pass(home, clock, [sid])
    assert [e.kind for e in events_of(home)] == ["archived", "extraction_failed"]  # same version
