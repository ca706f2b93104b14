"""The extraction input: a fetched page minus what changes on every request and is not
the article's business (monitor/extract.py says why this makes the fast path exact).

``extraction_input(page)`` empties, byte for byte and nothing else:

- the source of ``<script>`` elements, except those trafilatura 2.3 or htmldate 1.11 read
  as data: ``type="application/ld+json"`` (trafilatura ``metadata.extract_meta_json``,
  ``baseline._collect_json_content``, ``core._forum_thread_page``; htmldate
  ``extractors.json_search``) and ``type="application/settings+json"``
  (``extract_meta_json``, ``json_search``), kept whole;
- the contents of ``<style>`` elements;
- the text of HTML comments (``<!--…-->`` becomes ``<!---->``);
- the values of ``nonce`` attributes on script, style and link tags (``nonce=""``).

Neither library looks up a nonce or reads style, comment or (other) script text as
content: trafilatura parses with ``remove_comments=True`` (``utils.HTML_PARSER``) and
deletes script and style before extracting (``settings.MANUALLY_CLEANED``,
``BASIC_CLEAN_XPATH``; readability's ``Document`` drops them too). The one reader of
that text is htmldate's last resort, a regex over the serialized tree when no date
was found in markup (``core.find_date``: ``pattern_search``, ``idiosyncrasies_search``,
``search_page``): there it would take a page-state timestamp ("renderedAt", a cache
comment's time) for the article's date, and churn with it. Reading the input instead
is the point; the corpus test shows the extraction of input and page agree.

The elements and tags stay where they were, so the parsed tree keeps its shape. This
is hand-written because no library does it: an HTML parser (lxml, html5lib) would
re-serialize the whole page, so extraction would read other bytes than the page's,
and no cleaner strips only these parts byte for byte; a regex substitution alone does
not know where a script ends. This is one left-to-right pass of the HTML5 tokenizer's
rules as libxml2 2.14 (lxml 6) applies them, for exactly the states that decide where
script, style, comments and tags end: quoted attribute values (a ``<!--`` or ``<script`` inside one
is not markup), RCDATA and RAWTEXT elements kept verbatim (``<title>``,
``<textarea>``, ``<xmp>``, ``<iframe>``, ``<noembed>``, ``<noframes>``, ``<plaintext>``),
bogus comments (``<!x>``, ``<?x>``, ``</3>``), a self-closing ``<script/>`` (libxml2 gives
it no content), and the script-data escape states (``<!--`` then ``<script>`` inside a
script). Wherever the page could parse otherwise than assumed here (not UTF-8, control
characters trafilatura deletes before parsing, the repairs it makes to a page's first
lines), the page is returned unchanged: the fast path then just never matches churn.
"""

from __future__ import annotations

import re

_WS = rb"\t\n\f\r "
_VALUE = rb"(?:\"[^\"]*+\"|'[^']*+'|[^" + _WS + rb">\"'][^" + _WS + rb">]*+|(?=>))"
_ATTRIBUTE = (  # HTML5 attribute name state through attribute value states: after a name,
    # either no "=" or "=" and a value (an unclosed quote runs to the end: no tag at all)
    rb"(?:=|[^" + _WS + rb"/>=])[^" + _WS + rb"/>=]*+"
    rb"(?:(?![" + _WS + rb"]*+=)|[" + _WS + rb"]*+=[" + _WS + rb"]*+" + _VALUE + rb")"
)
_ATTRIBUTES = rb"(?:[" + _WS + rb"]++|/(?!>)|" + _ATTRIBUTE + rb")*+"
_TAG = rb"</?[A-Za-z][^" + _WS + rb"/>]*+" + _ATTRIBUTES + rb"/?>"
_SPECIAL = rb"script|style|link|title|textarea|xmp|iframe|noembed|noframes|plaintext"
_BOGUS = rb"<!(?!--)[^>]*+(?:>|\Z)|<\?[^>]*+(?:>|\Z)|</(?![A-Za-z])[^>]*+(?:>|\Z)"
# Text and markup left as they are, consumed whole so that nothing inside them is taken
# for a comment or a script; then the next token that may need work, or nothing.
_TOKEN = re.compile(
    rb"(?P<skip>(?:[^<]++|<(?![A-Za-z/!?])|" + _BOGUS
    + rb"|<(?!(?:" + _SPECIAL + rb")[" + _WS + rb"/>])" + _TAG[1:] + rb")*+)"
    rb"(?:(?P<comment><!--(?:>|->|.*?(?:--!?>|\Z)))"
    rb"|<(?P<name>" + _SPECIAL + rb")(?=[" + _WS + rb"/>])(?P<attrs>" + _ATTRIBUTES
    + rb")(?P<close>/?)>)?",
    re.IGNORECASE | re.DOTALL,
)
_ATTRIBUTE_PARTS = re.compile(
    rb"(?P<name>(?:=|[^" + _WS + rb"/>=])[^" + _WS + rb"/>=]*+)"
    rb"(?:(?P<eq>[" + _WS + rb"]*+=[" + _WS + rb"]*+)(?P<value>" + _VALUE + rb"))?",
)
_SCRIPT_STATE = re.compile(rb"<!--|-->|<(/?)script(?=[" + _WS + rb"/>])", re.IGNORECASE)
_END = {name: re.compile(rb"</" + name + rb"(?=[" + _WS + rb"/>])", re.IGNORECASE)
        for name in (b"style", b"title", b"textarea", b"xmp", b"iframe", b"noembed", b"noframes")}
_READ_SCRIPT_TYPES = (b"application/ld+json", b"application/settings+json")
_NONCE_TAGS = (b"script", b"style", b"link")
# trafilatura utils.INVALID_XML_CHARS (htmldate: the same), deleted before parsing
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_CONTROL_CHARS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")  # U+FFFE, U+FFFF in UTF-8
# htmldate utils.DOCTYPE_TAG: on the first line, up to the first "/>" (trafilatura's stops at ">")
_DOCTYPE_REPAIR = re.compile(rb"< ?! ?DOCTYPE.+?/ ?>", re.IGNORECASE)


def extraction_input(page: bytes) -> bytes:
    """``page`` without script source, style sheets, comment text and nonces (module doc)."""
    if len(page.translate(None, _CONTROL_BYTES)) != len(page) or any(
            char in page for char in _CONTROL_CHARS):
        return page
    try:
        text = page.decode("utf-8")
    except UnicodeDecodeError:  # trafilatura would guess the encoding: unsure where tags are
        return page
    out, first_change = _strip(page)
    if first_change is None or not _same_repairs(page, text, out, first_change):
        return page
    return out


def _strip(page: bytes) -> tuple[bytes, int | None]:
    """The stripped page and the offset of its first change (None: nothing to strip)."""
    out: list[bytes] = []
    first: int | None = None
    pos, end = 0, len(page)
    while pos < end:
        token = _TOKEN.match(page, pos)
        assert token is not None  # every part is optional
        out.append(token["skip"])
        pos = token.end()
        if token["comment"] is not None:
            kept = token["comment"] if len(token["comment"]) <= 7 else b"<!---->"
        elif token["name"] is not None:
            kept, pos = _special(page, token, pos)
        elif pos < end:  # "<" + letter with no ">" before the end: libxml2 drops the rest
            kept, pos = page[pos:], end
        else:
            break
        if first is None and kept != page[token.end("skip"):pos]:
            first = token.end("skip")
        out.append(kept)
    return b"".join(out), first


def _special(page: bytes, token: re.Match[bytes], pos: int) -> tuple[bytes, int]:
    """A script, style, link or raw-text start tag and its contents, as they should be kept."""
    name = token["name"].lower()
    start = token.end("skip")
    tag = page[start:pos]
    if name in _NONCE_TAGS and b"nonce" in token["attrs"].lower():
        tag = b"<" + token["name"] + _without_nonce(token["attrs"]) + token["close"] + b">"
    if token["close"] or name == b"link":  # libxml2: a self-closed script has no content
        return tag, pos
    if name == b"plaintext":
        return page[start:], len(page)
    if name == b"script":
        close = _script_end(page, pos)
        keep = _read_as_data(token["attrs"])
    else:
        found = _END[name].search(page, pos)
        close = found.start() if found is not None else len(page)
        keep = name != b"style"
    return tag + (page[pos:close] if keep else b""), close


def _without_nonce(attrs: bytes) -> bytes:
    def blank(part: re.Match[bytes]) -> bytes:
        if part["name"].lower() != b"nonce" or part["value"] is None:
            return part[0]
        return part["name"] + part["eq"] + b'""'

    return _ATTRIBUTE_PARTS.sub(blank, attrs)


def _read_as_data(attrs: bytes) -> bool:
    """Whether the libraries read this script: its type says JSON-LD or settings JSON.

    libxml2 decodes character references in attributes; a value with one is kept
    whatever it spells (rather than decode it the way libxml2 might not).
    """
    for part in _ATTRIBUTE_PARTS.finditer(attrs):
        if part["name"].lower() == b"type" and part["value"] is not None:
            value = part["value"]
            value = value[1:-1] if value[:1] in (b'"', b"'") else value
            if value in _READ_SCRIPT_TYPES or b"&" in value:
                return True
    return False


def _script_end(page: bytes, pos: int) -> int:
    """Where the script whose content starts at ``pos`` ends (HTML5 script data states)."""
    escaped = double = False
    while (event := _SCRIPT_STATE.search(page, pos)) is not None:
        pos = event.end()
        text = event[0]
        if text == b"<!--":
            escaped = escaped or not double
            pos = event.start() + 2  # its dashes may close it again: "<!-->"
        elif text == b"-->":
            escaped = double = False
        elif event[1]:  # </script
            if not double:
                return event.start()
            double = False
        elif escaped:  # <script inside an escaped section
            double = True
    return len(page)


def _same_repairs(page: bytes, text: str, out: bytes, first_change: int) -> bool:
    """Whether trafilatura and htmldate repair ``out`` as they repair ``page`` before parsing.

    Both look at the first 50 characters ("html", "doctype"), htmldate cuts the first
    line's "<!DOCTYPE" up to its first "/>", and both rewrite an "<html …/>" in the first
    four lines (``utils.repair_faulty_html`` in each); a change before or inside what
    they look at could change what they parse.
    """
    try:
        out_text = out.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - only ASCII-delimited runs are removed
        return False
    head, out_head = text[:50].lower(), out_text[:50].lower()
    if ("html" in head, "doctype" in head) != ("html" in out_head, "doctype" in out_head):
        return False
    if "doctype" in head:
        before = _DOCTYPE_REPAIR.match(page.partition(b"\n")[0])
        after = _DOCTYPE_REPAIR.match(out.partition(b"\n")[0])
        if before is None or after is None:
            if before is not after:
                return False
        elif first_change < before.end() or before.end() != after.end():
            return False
    return not (_rewrites_html_tag(text) or _rewrites_html_tag(out_text))


def _rewrites_html_tag(text: str) -> bool:
    """Whether ``repair_faulty_html`` rewrites an "<html …/>": trafilatura looks at the first
    four lines of the first 4,096 characters, htmldate at the first four "\\n" lines."""
    lines = text[:4096].splitlines()[:4] + text.split("\n", 4)[:4]
    return any("<html" in line and line.rstrip("\r").endswith("/>") for line in lines)
