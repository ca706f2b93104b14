"""``monitor annotate``: Robust Links in the citing document, HTML and Markdown.

The archive is built by real checks of the local news site; the expected URI-Ms and
dates are computed here from the capture rows, not by the code under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import html as lxml_html
from markdown_it import MarkdownIt
from sqlmodel import col, select

from monitor.clock import ManualClock
from monitor.home import Home
from monitor.store import session
from monitor.store.models import Capture, Source
from tests.conftest import add_sources, one_pass, publish, run_cli
from tests.site import NewsSite

REPLAY = "http://localhost:8080/monitor/"
ROBUST_ATTRS = re.compile(r' data-(?:originalurl|versionurl|versiondate)="[^"]*"')


@dataclass
class Story:
    cited: str  # watched, cited between its first and second capture
    steady: str  # watched, no cited_at
    dead: str  # watched, never archived
    captures: list[Capture]  # of ``cited``
    cited_at: datetime
    steady_last: Capture


def _uri_m(capture: Capture) -> str:
    return f"{REPLAY}{capture.at:%Y%m%d%H%M%S}/{capture.final_url}"


@pytest.fixture
def story(site: NewsSite, home: Home, clock: ManualClock) -> Story:
    cited, steady = publish(site, "apnews", "rednote"), publish(site, "reuters", "steady")
    dead = publish(site, "cnn", "dead")
    site.set_status(dead, 404)
    ids = add_sources(home, clock, cited, steady, dead)
    one_pass(home, clock, ids)
    for headline in ("The great social media migration", "RedNote, a week on"):
        site.edit(cited, headline=headline)
        one_pass(home, clock, ids)
    with session(home.engine) as db:
        captures = list(db.exec(select(Capture).where(col(Capture.source_id) == ids[0])
                                .order_by(col(Capture.at))).all())
        assert [c.record_type for c in captures] == ["response"] * 3
        cited_at = captures[0].at + timedelta(hours=2)  # nearer the first copy than the second
        source = db.get(Source, ids[0])
        assert source is not None
        source.cited_at = cited_at
        db.commit()
        steady_last = db.exec(select(Capture).where(col(Capture.source_id) == ids[1])
                              .order_by(col(Capture.at).desc())).first()
        assert steady_last is not None
    return Story(cited, steady, dead, captures, cited_at, steady_last)


HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Where the users went &amp; why</title>
<script>var tpl = "<a href='{cited}'>not a link</a>";</script></head>
<body>
<!-- draft: <a href="{cited}">old</a> -->
<p>RedNote <a href="{cited_variant}" class=ref>grew fast</a>, says
<A HREF='{steady}'
   title="Reuters">Reuters</A>; an <a href="{dead}">early report</a> is gone, and
<a href="https://unwatched.example/analysis?id=1&amp;x=2">an analysis</a> is not watched.</p>
<p>See <a href="/about">about</a>, <a href="mailto:desk@example.org">the desk</a>,
and again <a href="{cited}"/>.</p>\r
<p>Caf\xc3\xa9 \xff\xfe bytes that are not UTF-8 stay.</p>
</body></html>
"""


def test_html_links_get_robust_attributes_and_nothing_else_changes(
    story: Story, home_dir: Path
) -> None:
    doc = home_dir / "piece.html"
    source_bytes = HTML.format(cited=story.cited, steady=story.steady, dead=story.dead,
                               cited_variant=story.cited + "?utm_source=newsletter&amp;utm_medium=email"
                               ).encode("latin-1")
    doc.write_bytes(source_bytes)
    result = run_cli(home_dir, "annotate", str(doc))
    assert result.code == 0, result.err
    assert "annotated 3 of 5 links (1 not watched, 1 with no archived copy)" in result.out
    out = home_dir / "piece.annotated.html"
    assert doc.read_bytes() == source_bytes  # the input is never touched
    annotated = out.read_bytes()
    assert ROBUST_ATTRS.sub("", annotated.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape") == source_bytes  # every other byte is the same

    page = lxml_html.fromstring(annotated)
    robust = [a for a in page.iter("a") if a.get("data-versionurl")]
    first = story.captures[0]
    expected_cited = {"data-originalurl": story.cited, "data-versionurl": _uri_m(first),
                      "data-versiondate": story.cited_at.date().isoformat()}
    assert [{k: a.get(k) for k in expected_cited} for a in robust] == [
        expected_cited,
        {"data-originalurl": story.steady, "data-versionurl": _uri_m(story.steady_last),
         "data-versiondate": story.steady_last.at.date().isoformat()},
        expected_cited,
    ]
    assert robust[0].get("href") == story.cited + "?utm_source=newsletter&utm_medium=email"
    assert robust[0].get("class") == "ref" and robust[1].get("title") == "Reuters"
    assert f"<a href='{story.cited}'>not a link</a>" in page.findtext(".//script")


def test_html_annotation_can_point_at_the_latest_copy_and_replaces_stale_attributes(
    story: Story, home_dir: Path
) -> None:
    doc = home_dir / "piece.htm"
    doc.write_text(f'<p><a href="{story.cited}" data-versionurl="https://old.example/x" '
                   f'data-versiondate="2001-01-01">RedNote</a></p>\n')
    out = home_dir / "latest" / "piece.htm"
    result = run_cli(home_dir, "annotate", str(doc), "-o", str(out), "--at", "latest")
    assert result.code == 0 and "annotated 1 of 1 links" in result.out
    [anchor] = lxml_html.fromstring(out.read_bytes()).iter("a")
    latest = story.captures[-1]
    assert anchor.get("data-versionurl") == _uri_m(latest)
    assert anchor.get("data-versiondate") == latest.at.date().isoformat()
    assert out.read_text().count("data-versionurl") == 1


MARKDOWN = """# Where the users went

RedNote [grew **fast**]({cited}?utm_source=newsletter "AP story"), says [Reuters]({steady});
an [early report]({dead}) is gone and [an analysis](https://unwatched.example/a) is not watched.
Straight to the source: <{steady}>.

![chart]({cited})

Code stays code: `[x]({cited})` and

```
[y]({cited})
```

[ref link][1] and a [relative](/about) one stay as they are.

[1]: {cited}
"""


def test_markdown_links_to_watched_sources_become_robust_anchors(story: Story, home_dir: Path) -> None:
    doc = home_dir / "piece.md"
    text = MARKDOWN.format(cited=story.cited, steady=story.steady, dead=story.dead)
    doc.write_text(text)
    result = run_cli(home_dir, "annotate", str(doc))
    assert result.code == 0, result.err
    assert "annotated 3 of 5 links (1 not watched, 1 with no archived copy)" in result.out
    annotated = (home_dir / "piece.annotated.md").read_text()

    cited_attrs = (f'data-originalurl="{story.cited}" data-versionurl="{_uri_m(story.captures[0])}" '
                   f'data-versiondate="{story.cited_at.date().isoformat()}"')
    steady_attrs = (f'data-originalurl="{story.steady}" data-versionurl="{_uri_m(story.steady_last)}" '
                    f'data-versiondate="{story.steady_last.at.date().isoformat()}"')
    expected = text.replace(
        f'[grew **fast**]({story.cited}?utm_source=newsletter "AP story")',
        f'<a href="{story.cited}?utm_source=newsletter" title="AP story" {cited_attrs}>grew **fast**</a>',
    ).replace(f"[Reuters]({story.steady})", f'<a href="{story.steady}" {steady_attrs}>Reuters</a>',
    ).replace(f"<{story.steady}>", f'<a href="{story.steady}" {steady_attrs}>{story.steady}</a>')
    assert annotated == expected

    rendered = lxml_html.fromstring(MarkdownIt("commonmark").render(annotated))
    robust = [a for a in rendered.iter("a") if a.get("data-versionurl")]
    assert [a.text_content() for a in robust] == ["grew fast", "Reuters", story.steady]
    assert robust[0].find("strong") is not None  # the link text's markup still renders


def test_annotate_refuses_to_overwrite_its_input_or_read_what_is_not_there(home_dir: Path) -> None:
    doc = home_dir / "piece.md"
    doc.write_text("[a](https://example.org/a)\n")
    same = run_cli(home_dir, "annotate", str(doc), "-o", str(doc))
    assert same.code == 2 and "the document itself" in same.err
    assert doc.read_text() == "[a](https://example.org/a)\n"
    missing = run_cli(home_dir, "annotate", str(home_dir / "nope.md"))
    assert missing.code == 2 and "nope.md" in missing.err and "Traceback" not in missing.err
    bad = run_cli(home_dir, "annotate", str(doc), "--at", "soon")
    assert bad.code == 2 and "--at must be cited or latest" in bad.err
