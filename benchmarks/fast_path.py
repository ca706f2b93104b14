"""The extraction fast path on real news pages: what it costs, what it saves, how often it hits.

    python benchmarks/fast_path.py                     # all 181 pages of the shared corpus
    python benchmarks/fast_path.py --limit 40 --seed 3 --corpus /path/to/article-extraction-benchmark

For each page (read in place, ``html/<sha256>.html.gz`` and ``ground-truth.json``) with
page-state chrome added (below), in this one process, one page at a time: the fast path's
own work, ``extraction_input`` plus
``input_digest`` (what a check of new bytes always does), timed against a full extraction
(``extract_article`` of that input, what the fast path saves when it hits). The chrome is
re-randomised as real sites do on every request (a ``__NEXT_DATA__`` blob with a request id
and a timestamp, a CSP nonce, a "generated at" comment, a style) and a few characters of an
existing script are rewritten, ``--churn`` times per page; the hit rate is how many of these
churned copies have the first copy's digest. Timings are per page on one core
(the pool runs one such extraction per core).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import lxml.html

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import machine_lines  # noqa: E402
from monitor.extract import extract_article, extraction_input, input_digest  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "article-extraction-benchmark"
READ_TYPES = ("application/ld+json", "application/settings+json")


def churned(page: bytes, rng: random.Random, rewrite: bool = True) -> bytes:
    """``page`` with fresh page-state chrome before ``</body>`` and one script rewritten."""
    nonce = rng.randbytes(9).hex()
    stamp = datetime.now(UTC) - timedelta(seconds=rng.randint(0, 10**6))
    blob = json.dumps({"props": {"pageProps": {"requestId": rng.randbytes(8).hex()}},
                       "renderedAt": stamp.isoformat(), "cache": rng.randbytes(500).hex()})
    chrome = (f'<style nonce="{nonce}">.ad{{color:#{rng.randrange(16**6):06x}}}</style>'
              f'<script nonce="{nonce}">window.__T={rng.random()}</script>'
              f"<!-- generated {stamp:%Y-%m-%d %H:%M:%S} in {rng.random():.3f}s -->"
              f'<script id="__NEXT_DATA__" type="application/json">{blob}</script>').encode()
    end = page.rfind(b"</body>")
    end = len(page) if end < 0 else end
    page = page[:end] + chrome + page[end:]
    tree = lxml.html.fromstring(page)
    scripts = [s.text for s in tree.iter("script") if s.text and len(s.text) > 20
               and s.get("type") not in READ_TYPES and page.count(s.text.encode()) == 1]
    if scripts and rewrite:
        text = rng.choice(scripts)
        at = rng.randrange(len(text) - 8)
        edited = text[:at] + rng.randbytes(4).hex() + text[at + 8:]
        page = page.replace(text.encode(), edited.encode())
    return page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="the article-extraction-benchmark directory")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages (0: all)")
    parser.add_argument("--churn", type=int, default=3, help="churned copies per page")
    parser.add_argument("--seed", type=int, default=None, help="random seed (printed)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    urls = {key: entry["url"] for key, entry in
            json.loads((args.corpus / "ground-truth.json").read_text()).items()}
    paths = sorted((args.corpus / "html").glob("*.html.gz"))[: args.limit or None]
    for line in machine_lines():
        print(line)
    print(f"corpus: {len(paths)} pages from {args.corpus}; seed {seed}")
    extract_article(b"<html><body><p>warm-up</p></body></html>", "https://example.org/")
    today = date.today()
    fast, full, sizes, kept = [], [], [], []
    hits = tries = 0
    for path in paths:
        url = urls[path.name.split(".")[0]]
        original = gzip.decompress(path.read_bytes())
        page = churned(original, rng, rewrite=False)
        started = time.perf_counter()
        data = extraction_input(page)
        digest = input_digest(data, url, today)
        fast.append(time.perf_counter() - started)
        started = time.perf_counter()
        extract_article(data, url)
        full.append(time.perf_counter() - started)
        sizes.append(len(page))
        kept.append(len(data))
        for _ in range(args.churn):
            copy = churned(original, rng)
            tries += 1
            hits += input_digest(extraction_input(copy), url, today) == digest
    ms = 1000
    print(f"page size: median {statistics.median(sizes) / 1024:.0f} KB; extraction input: median "
          f"{statistics.median(kept) / 1024:.0f} KB ({sum(kept) / sum(sizes):.0%} of all bytes)")
    print(f"fast path (extraction_input + input_digest): median {statistics.median(fast) * ms:.2f} ms, "
          f"p90 {statistics.quantiles(fast, n=10)[-1] * ms:.2f} ms")
    print(f"full extraction (extract_article of the input): median {statistics.median(full) * ms:.1f} ms, "
          f"p90 {statistics.quantiles(full, n=10)[-1] * ms:.1f} ms")
    print(f"a hit costs {statistics.median(fast) / statistics.median(full):.1%} of an extraction "
          f"(median {statistics.median(full) / statistics.median(fast):.0f}x less)")
    print(f"churn-only copies proved unchanged: {hits} of {tries} ({hits / tries:.1%})")
    return 0 if hits == tries else 1


if __name__ == "__main__":
    sys.exit(main())
