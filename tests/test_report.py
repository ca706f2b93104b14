"""Rendering of coverage changes: plain/terminal text and the self-contained HTML report.

Run this file to write the sample report and look at it in a browser:

    python tests/test_report.py /tmp/report.html
"""

from __future__ import annotations

import io
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from monitor.compare import ArticleContent, compare
from monitor.report import ReportEntry, render_html_report, render_plain, render_terminal

CNN_URL = (
    "https://www.cnn.com/2025/01/14/tech/rednote-china-popularity-us-tiktok-ban-intl-hnk/index.html"
)
NYT_URL = "https://www.nytimes.com/2025/01/14/technology/tiktok-ban-rednote.html"
AP_URL = "https://apnews.com/article/855692624aa52825b30afc5474af881d"
GUARDIAN_URL = (
    "https://www.theguardian.com/media/2025/jan/18/rednote-app-tiktok-ban-us-alternatives"
)

# Synthetic text written for these tests in the style of a wire story; not a copy of any article.
LEDE = (
    "Hong Kong CNN — {} of thousands of Americans have joined RedNote, a Chinese social media "
    "app, in the days before a US ban on TikTok is due to take effect."
)
FIGURE = (
    "The app, known as Xiaohongshu in China, topped Apple’s US App Store on Monday. "
    "More than {} new users joined in two days, according to one estimate."
)
MIDDLE = [
    "RedNote looks like a cross between Instagram and Pinterest. Users share photos, short "
    "videos and shopping tips, and most of its 300 million monthly users are women in China.",
    "Many of the newcomers call themselves “TikTok refugees.” They post introductions in "
    "English and ask Chinese users for help with the app’s menus. Some offer to learn "
    "Mandarin in exchange.",
    "“I never expected to be talking with people in Shanghai about my cat,” said one user, "
    "a 24-year-old from Ohio.",
]
NO_COMMENT = (
    "The company did not respond to a request for comment on Tuesday. "
    "Its head office is in Shanghai."
)
ENDING = (
    "Analysts say the surge may fade once the U.S. Supreme Court rules on the TikTok law. "
    "The court heard arguments on Jan. 10."
)
CORRECTION = (
    "Correction: An earlier version of this story misstated the number of new users. "
    "It was more than 3 million, not 700,000."
)

CNN_BEFORE = ArticleContent(
    title="What is RedNote, the Chinese app that US ‘TikTok refugees’ are flocking to?",
    byline="By Example Reporter, CNN",
    published="2025-01-14T04:00:00Z",
    modified="2025-01-14T06:30:00Z",
    text="\n".join([LEDE.format("Tens"), FIGURE.format("700,000"), *MIDDLE, NO_COMMENT, ENDING]),
)
CNN_AFTER = ArticleContent(
    title=(
        "The great social media migration: Sudden influx of US users to RedNote "
        "connects Chinese and Americans like never before"
    ),
    byline="By Example Reporter, CNN",
    published="2025-01-14T04:00:00Z",
    modified="2025-01-15T09:10:00Z",
    text="\n".join(
        [LEDE.format("Hundreds"), FIGURE.format("3 million"), *MIDDLE, ENDING, CORRECTION]
    ),
)


def _squash(html: str) -> str:
    return " ".join(html.split())


def _entry(
    source_id: int, outlet: str, url: str, before: ArticleContent, after: ArticleContent
) -> ReportEntry:
    return ReportEntry(
        source_id=source_id,
        outlet=outlet,
        title=after.title,
        url=url,
        at=datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
        comparison=compare(before, after),
        before_label="version 1, captured 2025-01-14 12:00 UTC",
        after_label="version 2, captured 2025-01-15 09:30 UTC",
        before_link=f"restore/{source_id}/1.html",
        after_link=f"restore/{source_id}/2.html",
    )


def sample_entries() -> list[ReportEntry]:
    """A CNN-like headline change with a new figure, a correction and a paragraph removed,
    a re-headlined story, a typo fix and a bare date bump."""
    nyt_text = "Young Americans downloaded a Chinese app this week.\nIt is called Xiaohongshu."
    guardian = "Chinese users welcomed the newcomers with memes.\nMany offered language lessons."
    ap_text = "RedNote is a lifestyle app.\nIt has about 300 million users."
    return [
        _entry(
            8,
            "The New York Times",
            NYT_URL,
            ArticleContent("'Red Note,' a Chinese App, Is Dominating Downloads", nyt_text),
            ArticleContent(
                "Why TikTok Users Are Downloading 'Red Note,' the Chinese App", nyt_text
            ),
        ),
        _entry(4, "CNN", CNN_URL, CNN_BEFORE, CNN_AFTER),
        _entry(
            5,
            "The Guardian",
            GUARDIAN_URL,
            ArticleContent(
                "China's RedNote users welcome 'TikTok refugees'",
                guardian.replace("newcomers", "newcommers").replace("offered", "offerred"),
            ),
            ArticleContent("China's RedNote users welcome 'TikTok refugees'", guardian),
        ),
        _entry(
            1,
            "Associated Press",
            AP_URL,
            ArticleContent("Here's what to know about RedNote", ap_text, modified="2025-01-14"),
            ArticleContent("Here's what to know about RedNote", ap_text, modified="2025-01-16"),
        ),
    ]


def write_sample_report(path: Path) -> str:
    """Write the sample report to ``path`` and return its HTML."""
    html = render_html_report(
        sample_entries(),
        title="Coverage changes: sources of “The RedNote moment”",
        generated_at=datetime(2025, 1, 15, 10, 0, tzinfo=UTC),
    )
    path.write_text(html, encoding="utf-8")
    return html


def test_sample_report_is_self_contained(tmp_path: Path) -> None:
    html = write_sample_report(tmp_path / "report.html")
    allowed = {CNN_URL, NYT_URL, AP_URL, GUARDIAN_URL}
    external = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert external <= allowed
    assert "<script" not in html.lower()
    assert not re.search(r"<link\b", html, re.IGNORECASE)
    assert "@import" not in html and "url(" not in html
    assert not re.search(r"<(img|iframe|object|embed)\b", html, re.IGNORECASE)


def test_report_shows_the_change_and_its_links(tmp_path: Path) -> None:
    html = write_sample_report(tmp_path / "report.html")
    assert "<del>700,000</del>" in html
    assert "<ins>3 million</ins>" in html
    assert "<del>The company did not respond to a request for comment on Tuesday. Its" in html
    assert "<ins>Correction: An earlier version of this story" in html
    assert 'href="restore/4/1.html"' in html and 'href="restore/4/2.html"' in html
    assert f'href="{CNN_URL}"' in html
    assert "unchanged sentence" in html  # context collapsed
    assert 'class="view-sbs"' in html  # the side-by-side toggle


def test_report_lists_most_severe_first_with_counts(tmp_path: Path) -> None:
    html = write_sample_report(tmp_path / "report.html")
    toc = html[html.index('class="toc"') : html.index("</nav>")]
    outlets = re.findall(r'class="outlet">([^<]+)<', toc)
    assert outlets == ["CNN", "The New York Times", "The Guardian", "Associated Press"]
    assert "4 changes in 4 sources" in _squash(html)
    assert "1 critical" in html and "1 major" in html and "1 info" in html


def test_report_escapes_article_html() -> None:
    before = ArticleContent("Title", "Plain paragraph about apps.")
    after = ArticleContent(
        "Title <img src=x onerror=alert(1)>",
        'Plain paragraph about apps.\nA new line with <script>alert("x")</script> & more.',
    )
    entry = ReportEntry(
        source_id=1,
        outlet="<b>Outlet</b>",
        title=after.title,
        url="javascript:alert(1)",
        at=datetime(2025, 1, 15),
        comparison=compare(before, after),
        before_label="v1",
        after_label="v2",
        before_link=None,
        after_link="javascript:alert(2)",
    )
    html = render_html_report([entry], title="<i>report</i>", generated_at=datetime(2025, 1, 15))
    assert "<script" not in html and "<img" not in html and "<b>Outlet" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more." in html
    assert "&lt;i&gt;report&lt;/i&gt;" in html
    assert 'href="javascript:' not in html


def test_empty_report_says_so() -> None:
    html = render_html_report([], title="Nothing", generated_at=datetime(2025, 1, 15))
    assert "No coverage changes" in html
    assert "0 changes in 0 sources" in _squash(html)


def test_plain_rendering_marks_deletions_and_insertions() -> None:
    text = render_plain(compare(CNN_BEFORE, CNN_AFTER))
    lines = text.splitlines()
    assert lines[0].startswith("[CRITICAL]")
    assert "headline" in lines[0] and "correction" in lines[0] and "figures" in lines[0]
    assert "More than [-700,000-] {+3 million+} new users joined" in text
    assert "[-The company did not respond to a request for comment on Tuesday. Its" in text
    assert "{+Correction: An earlier version of this story" in text
    assert "Headline: [-What is RedNote" in text
    assert "… 2 unchanged sentences …" in text or "unchanged sentences …" in text


def test_terminal_rendering_without_color_reads_like_plain() -> None:
    comparison = compare(CNN_BEFORE, CNN_AFTER)
    console = Console(width=200, no_color=True, record=True, file=io.StringIO())
    console.print(render_terminal(comparison, color=False))
    shown = console.export_text()
    assert "[-700,000-] {+3 million+}" in shown


def test_terminal_rendering_styles_changes() -> None:
    console = Console(width=200, force_terminal=True, color_system="truecolor")
    with console.capture() as captured:
        console.print(render_terminal(compare(CNN_BEFORE, CNN_AFTER)))
    shown = captured.get()
    assert re.search(r"\x1b\[[0-9;]*9[;m][^\x1b]*700,000", shown)  # struck through
    assert re.search(r"\x1b\[[0-9;]*4[;m][^\x1b]*3 million", shown)  # underlined
    assert "[-" not in shown and "{+" not in shown


def test_unchanged_comparison_renders_a_short_note() -> None:
    same = ArticleContent("Title", "One sentence. Two sentences here.\nThird one.\nFourth one.")
    text = render_plain(compare(same, same))
    assert text.startswith("[INFO]")
    assert "no change" in text
    assert "… 4 unchanged sentences …" in text
    assert "[-" not in text and "{+" not in text


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "report.html")
    write_sample_report(target)
    print(f"wrote {target}")
