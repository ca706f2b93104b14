"""Show a :class:`~monitor.compare.Comparison` to a person: in a terminal or as an HTML report.

Both renderers share one layout: the diff blocks grouped into the article's
paragraphs, unchanged sentences far from a change collapsed into a gap
("… 12 unchanged sentences …"), and every paragraph cut into spans that are
context, unchanged words, deletions or insertions.

Without colour the terminal output marks changes the way ``wdiff`` does:
``[-deleted-]`` and ``{+inserted+}``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from rich.console import Group
from rich.text import Text

from monitor.compare import SEVERITY_ORDER, Block, Comparison, WordOp

SpanKind = Literal["ctx", "eq", "del", "ins", "sp"]

CLASS_LABELS: dict[str, str] = {
    "headline": "headline",
    "correction": "correction",
    "numbers": "figures",
    "quotes": "quotes",
    "lede": "lede",
    "paragraphs_added": "paragraphs added",
    "paragraphs_removed": "paragraphs removed",
    "sentences_edited": "sentences edited",
    "byline": "byline",
    "dates": "dates",
    "minor": "minor",
}
CONTEXT_SENTENCES = 1  # unchanged sentences shown on each side of a change
MIN_GAP = 3  # shorter runs of unchanged sentences are shown, not collapsed

_SEVERITY_STYLE = {
    "critical": "bold white on red3",
    "major": "bold black on dark_orange",
    "minor": "bold white on blue",
    "info": "bold white on grey42",
}
_SPAN_STYLE = {"ctx": "dim", "eq": "", "sp": "", "del": "red strike", "ins": "green underline"}
_PLAIN_MARKS = {"del": ("[-", "-]"), "ins": ("{+", "+}")}


@dataclass(frozen=True)
class Span:
    """A run of text with one role: context, unchanged word, deletion, insertion, space."""

    kind: SpanKind
    text: str


@dataclass
class Paragraph:
    """Visible sentences of one paragraph, as inline spans and as the two sides."""

    kind: ClassVar[str] = "para"
    inline: list[Span] = field(default_factory=list)
    before: list[Span] = field(default_factory=list)
    after: list[Span] = field(default_factory=list)


@dataclass(frozen=True)
class Gap:
    """Unchanged sentences collapsed out of view."""

    kind: ClassVar[str] = "gap"
    sentences: list[str]

    @property
    def label(self) -> str:
        n = len(self.sentences)
        return f"… {n} unchanged sentence{'s' if n != 1 else ''} …"


LayoutItem = Paragraph | Gap


def layout(blocks: list[Block], context: int = CONTEXT_SENTENCES) -> list[LayoutItem]:
    """Group ``blocks`` into paragraphs and gaps of collapsed unchanged sentences."""
    items: list[LayoutItem] = []
    for block, visible in zip(blocks, _shown(blocks, context), strict=True):
        last = items[-1] if items else None
        if not visible:
            if isinstance(last, Gap):
                last.sentences.append(block.after)
            else:
                items.append(Gap([block.after]))
            continue
        if not isinstance(last, Paragraph) or block.new_paragraph:
            last = Paragraph()
            items.append(last)
        _add_block(last, block)
    return [_merged(item) if isinstance(item, Paragraph) else item for item in items]


def _shown(blocks: list[Block], context: int) -> list[bool]:
    """Which blocks stay visible: changes, their context, and short unchanged runs."""
    changed = [i for i, block in enumerate(blocks) if block.op != "equal"]
    shown = [False] * len(blocks)
    if not changed:
        return shown
    for i in changed:
        for j in range(max(0, i - context), min(len(blocks), i + context + 1)):
            shown[j] = True
    start = 0
    while start < len(blocks):
        end = start
        while end < len(blocks) and not shown[end]:
            end += 1
        if 0 < end - start < MIN_GAP:
            shown[start:end] = [True] * (end - start)
        start = end + 1
    return shown


def _add_block(paragraph: Paragraph, block: Block) -> None:
    inline, before, after = _block_spans(block)
    _append_sentence(paragraph.inline, inline)
    _append_sentence(paragraph.before, before)
    _append_sentence(paragraph.after, after)


def _append_sentence(target: list[Span], spans: list[Span]) -> None:
    if target and spans:
        target.append(Span("sp", " "))
    target.extend(spans)


def _block_spans(block: Block) -> tuple[list[Span], list[Span], list[Span]]:
    """Inline, before and after spans of one block."""
    if block.op == "equal":
        context = [Span("ctx", block.after)]
        return context, context, context
    if block.op == "insert":
        return [Span("ins", block.after)], [], [Span("ins", block.after)]
    if block.op == "delete":
        return [Span("del", block.before)], [Span("del", block.before)], []
    spans = _word_spans(block.words)
    return spans, _one_side(spans, "ins"), _one_side(spans, "del")


def _one_side(spans: list[Span], drop: SpanKind) -> list[Span]:
    """``spans`` without the ``drop`` kind and the space before each dropped span."""
    side: list[Span] = []
    for span in spans:
        if span.kind != drop:
            side.append(span)
        elif side and side[-1].kind == "sp":
            side.pop()
    return side


def word_spans(words: list[WordOp]) -> list[Span]:
    """Spans of a word diff; the space before a change stays outside its marks."""
    return _merge_spans(_word_spans(words))


def _word_spans(words: list[WordOp]) -> list[Span]:
    spans: list[Span] = []
    kinds: dict[str, SpanKind] = {"equal": "eq", "delete": "del", "insert": "ins"}
    for op in words:
        text = op.text if op.op == "equal" else op.text.lstrip()
        spaced = len(text) < len(op.text) or (op.op == "insert" and _ends_with(spans, "del"))
        if op.op != "equal" and spaced:
            spans.append(Span("sp", " "))
        spans.append(Span(kinds[op.op], text))
    return spans


def _ends_with(spans: list[Span], kind: SpanKind) -> bool:
    return bool(spans) and spans[-1].kind == kind


def _merge_spans(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in spans:
        if not span.text:
            continue
        previous = merged[-1] if merged else None
        if previous is not None and previous.kind == "sp" and _ends_with(merged[:-1], span.kind):
            merged[-2:] = [Span(span.kind, merged[-2].text + previous.text + span.text)]
        elif previous is not None and previous.kind in ("sp", "eq") and span.kind in ("sp", "eq"):
            merged[-1] = Span("eq", previous.text + span.text)
        elif previous is not None and previous.kind == span.kind:
            merged[-1] = Span(span.kind, previous.text + span.text)
        else:
            merged.append(span)
    return merged


def _merged(paragraph: Paragraph) -> Paragraph:
    return Paragraph(
        _merge_spans(paragraph.inline),
        _merge_spans(paragraph.before),
        _merge_spans(paragraph.after),
    )


# --- terminal -----------------------------------------------------------------------------


def render_terminal(comparison: Comparison, *, color: bool = True) -> Group:
    """The comparison for a rich console.

    With ``color=False`` the changes are marked ``[-deleted-]`` and
    ``{+inserted+}`` instead of styled, for consoles, logs and mail without colour.
    """
    return Group(*_terminal_lines(comparison, color))


def render_plain(comparison: Comparison) -> str:
    """The comparison as plain text with ``[-deleted-]`` and ``{+inserted+}`` marks."""
    return "\n".join(line.plain for line in _terminal_lines(comparison, color=False))


def _terminal_lines(comparison: Comparison, color: bool) -> list[Text]:
    severity = comparison.severity.upper()
    header = Text(f" {severity} " if color else f"[{severity}]", _style(severity.lower(), color))
    header.append("  " + " · ".join(CLASS_LABELS.get(c, c) for c in comparison.classes))
    lines = [header, Text(comparison.summary, "bold" if color else "")]
    if comparison.title_words:
        lines.append(_spans_text(word_spans(comparison.title_words), color, prefix="Headline: "))
    for item in layout(comparison.blocks):
        lines.append(Text(""))
        if isinstance(item, Gap):
            lines.append(Text(item.label, "dim italic" if color else ""))
        else:
            lines.append(_spans_text(item.inline, color))
    return lines


def _style(severity: str, color: bool) -> str:
    return _SEVERITY_STYLE.get(severity, "") if color else ""


def _spans_text(spans: list[Span], color: bool, prefix: str = "") -> Text:
    text = Text(prefix, "bold" if color and prefix else "")
    for span in spans:
        if color:
            text.append(span.text, _SPAN_STYLE[span.kind])
        else:
            opening, closing = _PLAIN_MARKS.get(span.kind, ("", ""))
            text.append(f"{opening}{span.text}{closing}")
    return text


# --- HTML report --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportEntry:
    """One coverage change of one source, as the report shows it."""

    source_id: int
    outlet: str | None
    title: str  # headline after the change
    url: str
    at: datetime  # when the change was seen
    comparison: Comparison
    before_label: str  # e.g. "version 3, captured 2025-01-14 12:00 UTC"
    after_label: str
    before_link: str | None  # relative link to the archived copy, may be None
    after_link: str | None


@dataclass(frozen=True)
class _EntryView:
    """What the template needs for one entry, computed here rather than in Jinja."""

    anchor: str
    entry: ReportEntry
    when: str
    when_iso: str
    url_href: str | None
    before_href: str | None
    after_href: str | None
    labels: list[str]
    title_spans: list[Span]
    items: list[LayoutItem]
    text_changed: bool
    sentence_count: int


def render_html_report(entries: list[ReportEntry], *, title: str, generated_at: datetime) -> str:
    """One self-contained HTML page: inline CSS, no scripts, fonts or images; works offline.

    Entries are shown most severe first, then most recent first.
    """
    ordered = sorted(entries, key=_importance)
    views = [_entry_view(index, entry) for index, entry in enumerate(ordered, start=1)]
    tally = Counter(entry.comparison.severity for entry in ordered)
    template = _environment().get_template("report.html")
    return template.render(
        title=title,
        generated=_when(generated_at),
        generated_iso=_utc(generated_at).isoformat(),
        entries=views,
        sources=len({entry.source_id for entry in ordered}),
        tally=[(level, tally[level]) for level in reversed(SEVERITY_ORDER) if tally[level]],
    )


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("monitor", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _entry_view(index: int, entry: ReportEntry) -> _EntryView:
    comparison = entry.comparison
    return _EntryView(
        anchor=f"change-{index}",
        entry=entry,
        when=_when(entry.at),
        when_iso=_utc(entry.at).isoformat(),
        url_href=_href(entry.url),
        before_href=_href(entry.before_link),
        after_href=_href(entry.after_link),
        labels=[CLASS_LABELS.get(name, name) for name in comparison.classes],
        title_spans=word_spans(comparison.title_words),
        items=layout(comparison.blocks),
        text_changed=any(block.op != "equal" for block in comparison.blocks),
        sentence_count=len(comparison.blocks),
    )


def _href(link: str | None) -> str | None:
    """``link`` if it is a web address or a relative path; never ``javascript:`` and kin."""
    if not link:
        return None
    parts = urlsplit(link)
    if parts.scheme in ("http", "https") and parts.netloc:
        return link
    return link if not parts.scheme and not parts.netloc else None


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a time without zone is UTC (see DESIGN.md)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _importance(entry: ReportEntry) -> tuple[int, float]:
    """Sort key: most severe first, then most recent first."""
    return -SEVERITY_ORDER.index(entry.comparison.severity), -_utc(entry.at).timestamp()


def _when(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M UTC")
