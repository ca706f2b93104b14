"""The benchmarks' web server: pages of realistic size at thousands of requests per second.

    python -m benchmarks.pageserver        # reads one JSON line (a Spec) on stdin, see below

tests/site's ``NewsSite`` runs in threads of the test process and renders every page per
request: about 0.5 ms of CPU per ~100 KB page and at most ~1,400 requests/s under the GIL,
which would be the bottleneck of a monitor meant to do 1,000 checks/s. This server serves the
same pages from its own process: an aiohttp server (its HTTP parser is C) with one listening
port per outlet, pages rendered once (imitation articles through ``tests.site.pages``, or
real pages read from a corpus directory) and compiled into a template whose churning parts
are filled per request, which costs microseconds. Its CPU is reported, so a benchmark can
show the server is not what limits the monitor.

Outlet modes:

- ``churn``: the page-state of the page changes on every request, as real sites do:
  the ``__NEXT_DATA__`` blob (padding re-randomised, same size), every script ``nonce``
  (and the request id it also appears as), and an HTML comment with the serve time. Pages
  without a ``__NEXT_DATA__`` blob (the corpus) get one of ``blob_kb`` before ``</body>``.
  The article and every visible text stay as they are.
- ``visible``: ``churn`` plus a visible line with the serve time at the top of ``<body>``.
- ``etag``: the page's bytes never change; strong ``ETag`` and ``Last-Modified``, and 304
  to a matching ``If-None-Match`` / ``If-Modified-Since``.
- ``static``: the page's bytes never change and no validators are sent.

The parent drives it with JSON lines on stdin, one answer line each on stdout:
``{"cmd": "edit", "share": 1.0, "seed": 3}`` (append a paragraph to that share of the
imitation articles, or change a word of the article text of that share of real pages;
answers the URLs that now serve an edited article),
``{"cmd": "mode", "mode": "static", "outlets": [...]}``, ``{"cmd": "stats"}`` (CPU seconds
of this process and responses by status) and ``{"cmd": "stop"}``. :class:`PageServer` is
the parent's side.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import os
import random
import re
import resource
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

MODES = ("churn", "visible", "etag", "static")
LOOPBACK = "127.0.0.1"
_BLOB = re.compile(rb'(<script id="__NEXT_DATA__" type="application/json">)(.*?)(</script>)', re.S)
_CACHE = re.compile(rb'"cache":"([A-Za-z0-9+/=]*)"')
_NONCE = re.compile(rb'\snonce="([^"]{8,})"')
_BODY_OPEN = re.compile(rb"<body\b[^>]*>", re.I)
_BODY_CLOSE = re.compile(rb"</body\s*>", re.I)
_HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Spec:
    """What to serve. ``corpus``: a directory of ``*.html.gz`` pages (read in place), else
    ``articles`` generated imitation articles padded to ``page_kb``. ``urls`` URLs cycle
    over the pages; ``modes`` gives one mode per outlet (one port each)."""

    modes: tuple[str, ...]
    urls: int
    articles: int = 0
    page_kb: int = 100
    corpus: str = ""
    blob_kb: int = 2
    seed: int = 1


# ------------------------------------------------------------------ templates

NONCE, NOISE, TIME, VISIBLE = "nonce", "noise", "time", "visible"
Part = bytes | tuple[str, int]  # literal bytes, or a hole (kind, size) filled per request


def compile_page(page: bytes, mode: str, blob_kb: int) -> list[Part]:
    """The page as literal parts and holes that ``render`` fills for one request."""
    if mode in ("etag", "static"):
        return [page]
    marks: list[tuple[int, int, Part]] = []  # (start, end, replacement)
    blob = _BLOB.search(page)
    if blob is None:
        close = _BODY_CLOSE.search(page)
        at = close.start() if close else len(page)
        state = b'<script id="__NEXT_DATA__" type="application/json">{"props":{"pageProps":{}},'
        marks += [(at, at, state + b'"requestId":"'), (at, at, (NONCE, 0)),
                  (at, at, b'","renderedAt":"'), (at, at, (TIME, 0)), (at, at, b'","cache":"'),
                  (at, at, (NOISE, blob_kb * 1024)), (at, at, b'"}</script>\n')]
    else:
        cache = _CACHE.search(page, blob.start(2), blob.end(2))
        if cache is not None:
            marks.append((cache.start(1), cache.end(1), (NOISE, cache.end(1) - cache.start(1))))
    nonces = {m.group(1) for m in _NONCE.finditer(page)}
    if nonces:
        alternation = re.compile(b"|".join(re.escape(n) for n in sorted(nonces)))
        marks += [(m.start(), m.end(), (NONCE, 0)) for m in alternation.finditer(page)]
    close = _BODY_CLOSE.search(page)
    at = close.start() if close else len(page)
    marks += [(at, at, b"<!-- page served "), (at, at, (TIME, 0)), (at, at, b" -->\n")]
    if mode == "visible":
        opened = _BODY_OPEN.search(page)
        at = opened.end() if opened else 0
        marks.append((at, at, (VISIBLE, 0)))
    return _split(page, marks)


def _split(page: bytes, marks: list[tuple[int, int, Part]]) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    for start, end, replacement in sorted(marks, key=lambda m: (m[0], m[1])):
        if start < pos:  # overlapping marks (a nonce inside the noise): keep the first
            continue
        parts += [page[pos:start], replacement]
        pos = end
    parts.append(page[pos:])
    return [p for p in parts if p != b""]


class Filler:
    """Fresh values for the holes of one request: cheap, so the server stays fast."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._pool = base64.b64encode(self._rng.randbytes(768 * 1024))  # 1 MiB of base64 text

    def render(self, parts: Sequence[Part]) -> bytes:
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        nonce = self._rng.randbytes(12).hex().encode()
        now = datetime.now(UTC).isoformat(timespec="microseconds").encode()
        out = []
        for part in parts:
            if isinstance(part, bytes):
                out.append(part)
            elif part[0] == NONCE:
                out.append(nonce)
            elif part[0] == TIME:
                out.append(now)
            elif part[0] == NOISE:
                start = self._rng.randrange(len(self._pool) - part[1])
                out.append(self._pool[start:start + part[1]])
            else:
                out.append(b'<div class="page-updated">Page updated ' + now + b"</div>\n")
        return b"".join(out)


# ------------------------------------------------------------------ pages


@dataclass
class Page:
    """One distinct page and the validators of its bytes."""

    body: bytes
    modified: datetime
    article: Any = None  # the imitation Article it renders (None: a corpus page)
    templates: dict[str, list[Part]] = field(default_factory=dict)
    ctype: str = ""  # UTF-8 pages say so; others leave the charset to the page (churn is ASCII)
    etag: str = ""

    def __post_init__(self) -> None:
        self.ctype = _HTML_TYPE if _utf8(self.body) else "text/html"
        self.etag = f'"{hashlib.sha256(self.body).hexdigest()[:32]}"'

    def template(self, mode: str, blob_kb: int) -> list[Part]:
        if mode not in self.templates:
            self.templates[mode] = compile_page(self.body, mode, blob_kb)
        return self.templates[mode]


def corpus_pages(directory: Path) -> list[tuple[str, Page]]:
    """(name, page) for every ``*.html.gz`` of the corpus, sorted by name; read in place."""
    files = sorted(directory.glob("*.html.gz"))
    if not files:
        raise SystemExit(f"no *.html.gz pages in {directory}")
    started = datetime(2025, 1, 1, tzinfo=UTC)
    return [(f.name.removesuffix(".html.gz")[:12], Page(gzip.decompress(f.read_bytes()), started))
            for f in files]


def edit_real_page(page: bytes, rng: random.Random) -> bytes | None:
    """A real page with one word of its article text changed, as an editor would: a word of
    six letters or more that the monitor's own extraction reads, chosen among those the page
    holds the fewest times, changed wherever it occurs (many pages repeat the article in
    ld+json; a CMS edits both). tests/test_fast_path.py makes the same kind of edit."""
    from monitor.extract import extract_article, extraction_input

    content = extract_article(extraction_input(page), "http://127.0.0.1/")
    counts = {w: len(re.findall(rb"\b" + w.encode() + rb"\b", page))
              for w in set(re.findall(r"\b[A-Za-z]{6,}\b", content.text if content else ""))}
    counts = {w: n for w, n in counts.items() if n}
    if not counts:  # nothing extracted (2 of the 181 corpus pages): not an article to edit
        return None
    fewest = min(counts.values())
    word = rng.choice(sorted(w for w, n in counts.items() if n == fewest))
    new = f"{word[::-1].lower()}{rng.randrange(10**6)}".encode()
    return re.sub(rb"\b" + word.encode() + rb"\b", new, page)


def url_paths(names: Sequence[str], count: int, prefix: str) -> Iterator[tuple[int, str]]:
    """(page index, path) of ``count`` URLs cycling over the pages; the first round is the
    pages' own paths, later rounds add ``-2``, ``-3`` …"""
    for i in range(count):
        index, round_ = i % len(names), i // len(names)
        yield index, f"{prefix}{names[index]}" + (f"-{round_ + 1}" if round_ else "")


# ------------------------------------------------------------------ the server process


class Site:
    """What the server process holds: outlets (ports, modes), pages and the routes to them."""

    def __init__(self, spec: Spec, sockets: list[socket.socket]) -> None:
        self.spec = spec
        self.modes = list(spec.modes)
        self.bases = [f"http://{LOOPBACK}:{s.getsockname()[1]}" for s in sockets]
        self.filler = Filler(spec.seed)
        self.statuses: Counter[int] = Counter()
        self.routes: list[dict[str, int]] = [{} for _ in sockets]
        self.urls: list[str] = []
        if spec.corpus:
            named = corpus_pages(Path(spec.corpus))
            self.pages = [page for _, page in named]
            names, prefix = [name for name, _ in named], "/page/"
        else:
            self.pages = self._articles()
            names, prefix = [f"story-{i:05d}" for i in range(len(self.pages))], "/article/"
        for index, path in url_paths(names, spec.urls, prefix):
            outlet = index % len(sockets)
            self.routes[outlet][path] = index
            self.urls.append(self.bases[outlet] + path)
        self.compile(range(len(self.pages)))

    def compile(self, indexes: Iterable[int]) -> None:
        """Compile these pages' templates for their outlet's mode now, not on the first request
        (compiling a 100 KB page costs ~2 ms: it would be counted as serving)."""
        for index in indexes:
            self.pages[index].template(self.modes[index % len(self.bases)], self.spec.blob_kb)

    def _articles(self) -> list[Page]:
        from tests.site.pages import SECTIONS, Article, fake_story

        rng, start = random.Random(self.spec.seed), datetime(2025, 1, 1, tzinfo=UTC)
        pages = []
        for i in range(self.spec.articles):
            headline, paragraphs = fake_story(rng)
            art = Article(f"story-{i:05d}", headline, f"By Reporter {rng.randint(1, 40)}",
                          start + timedelta(hours=i), tuple(paragraphs), rng.choice(SECTIONS))
            pages.append(self._render(i, art))
        return pages

    def _render(self, index: int, art: Any) -> Page:
        from tests.site.pages import DISPLAY_NAMES, Brand, article_page, fixed_chrome

        outlet = index % len(self.bases)
        name = list(DISPLAY_NAMES)[outlet % len(DISPLAY_NAMES)]
        chrome = fixed_chrome(f"{outlet}{art.path}", self.spec.page_kb * 1024)
        body = article_page(Brand(name, self.bases[outlet]), art, chrome)
        return Page(body, art.last_modified.replace(microsecond=0), art)

    def edit(self, share: float, seed: int) -> list[str]:
        """Append a paragraph to ``share`` of the imitation articles (a real page: change a word
        of its article); the URLs now edited."""
        from tests.site.pages import fake_paragraph

        rng = random.Random(seed)
        chosen = set(rng.sample(range(len(self.pages)), round(share * len(self.pages))))
        now = datetime.now(UTC)
        for index in sorted(chosen):
            art = self.pages[index].article
            if art is None:
                edited = edit_real_page(self.pages[index].body, rng)
                if edited is None:
                    chosen.discard(index)
                else:
                    self.pages[index] = Page(edited, now)
                continue
            art = replace(art, paragraphs=(*art.paragraphs, fake_paragraph(rng)), modified=now)
            self.pages[index] = self._render(index, art)
        self.compile(chosen)
        return [self.bases[o] + path for o, routes in enumerate(self.routes)
                for path, index in routes.items() if index in chosen]

    def respond(self, outlet: int, path: str, headers: Any) -> tuple[int, bytes, dict[str, str]]:
        index = self.routes[outlet].get(path)
        if index is None:
            return 404, b"<html><body><h1>404 Not Found</h1></body></html>\n", {
                "Content-Type": _HTML_TYPE}
        page, mode = self.pages[index], self.modes[outlet]
        if mode != "etag":
            body = self.filler.render(page.template(mode, self.spec.blob_kb))
            return 200, body, {"Content-Type": page.ctype}
        validators = {"ETag": page.etag, "Last-Modified": format_datetime(page.modified, usegmt=True),
                      "Cache-Control": "max-age=0, must-revalidate"}
        if _not_modified(headers, page.etag, page.modified):
            return 304, b"", validators
        return 200, page.body, {**validators, "Content-Type": page.ctype}

    def command(self, line: str) -> dict[str, Any]:
        order = json.loads(line)
        if order["cmd"] == "edit":
            return {"edited": self.edit(float(order["share"]), int(order.get("seed", 1)))}
        if order["cmd"] == "mode":
            if order["mode"] not in MODES:
                raise ValueError(f"unknown mode {order['mode']!r}; one of {MODES}")
            for outlet in order.get("outlets") or range(len(self.modes)):
                self.modes[int(outlet)] = order["mode"]
            self.compile(range(len(self.pages)))
            return {"modes": self.modes}
        if order["cmd"] == "stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return {"cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
                    "statuses": {str(k): v for k, v in self.statuses.items()}}
        raise ValueError(f"unknown command {order['cmd']!r}")


def _not_modified(headers: Any, etag: str, modified: datetime) -> bool:
    if "If-None-Match" in headers:
        tags = {t.strip().removeprefix("W/") for t in headers["If-None-Match"].split(",")}
        return "*" in tags or etag in tags
    try:
        since = parsedate_to_datetime(headers.get("If-Modified-Since", ""))
    except (TypeError, ValueError):
        return False
    return modified <= (since if since.tzinfo else since.replace(tzinfo=UTC))


async def serve(spec: Spec) -> None:
    from aiohttp import web

    sockets = []
    for _ in spec.modes:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        sockets.append(sock)
    site = Site(spec, sockets)
    loop = asyncio.get_running_loop()
    for outlet, sock in enumerate(sockets):
        async def handle(request: web.BaseRequest, outlet: int = outlet) -> web.Response:
            status, body, headers = site.respond(outlet, request.path, request.headers)
            site.statuses[status] += 1
            if status == 304:
                return web.Response(status=304, headers=headers)
            return web.Response(status=status, body=body, headers=headers)
        sock.listen(1024)
        await loop.create_server(web.Server(handle, access_log=None), sock=sock, backlog=1024)
    _answer({"ready": True, "pid": os.getpid(), "bases": site.bases, "urls": site.urls})
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode():
        if json.loads(line)["cmd"] == "stop":
            break
        try:
            _answer(site.command(line))
        except (ValueError, KeyError) as problem:
            _answer({"error": str(problem)})


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _answer(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------ the parent's side


class PageServer:
    """Starts ``python -m benchmarks.pageserver`` with a Spec and talks to it."""

    def __init__(self, spec: Spec) -> None:
        if not spec.modes or any(m not in MODES for m in spec.modes):
            raise ValueError(f"one mode per outlet, each one of {MODES}: {spec.modes}")
        repo = Path(__file__).resolve().parents[1]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.pageserver"], cwd=repo, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(repo)})
        ready = self._call(asdict(spec))
        self.pid: int = ready["pid"]
        self.bases: list[str] = ready["bases"]
        self.urls: list[str] = ready["urls"]

    def _call(self, order: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(order) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the page server exited ({self._proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"page server: {answer['error']}")
        return answer

    def edit(self, share: float, seed: int) -> set[str]:
        return set(self._call({"cmd": "edit", "share": share, "seed": seed})["edited"])

    def set_mode(self, mode: str, outlets: Sequence[int] = ()) -> None:
        self._call({"cmd": "mode", "mode": mode, "outlets": list(outlets)})

    def stats(self) -> tuple[float, Counter[int]]:
        """CPU seconds the server used so far, and its responses by status."""
        answer = self._call({"cmd": "stats"})
        return float(answer["cpu"]), Counter({int(k): v for k, v in answer["statuses"].items()})

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def main() -> int:
    given: dict[str, Any] = json.loads(sys.stdin.readline())
    spec = Spec(**{**given, "modes": tuple(given["modes"])})
    asyncio.run(serve(spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
