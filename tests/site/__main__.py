"""Run the imitation news site on its own, for benchmarks and manual poking.

    python -m tests.site --outlets 5 --articles 1000 --page-kb 100 \\
        --urls-file /tmp/urls.txt [--edit-every SECONDS]

Publishes ``--articles`` articles spread round-robin over the outlets, writes their URLs
one per line to ``--urls-file`` (atomically: once the file exists it is complete),
prints ``<outlet> <base URL>`` per outlet, then serves until SIGINT or SIGTERM. With
``--edit-every``, one random article gets a new paragraph every that many seconds and
``EDIT <url>`` is printed.

``--demo`` is the README's walkthrough: three outlets, three articles; press Enter and
the first story is edited (new headline, a changed figure, a correction) and the
second one is taken down (404).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .pages import DISPLAY_NAMES, SECTIONS, fake_paragraph, fake_story
from .server import NewsSite


def outlet_names(count: int) -> list[str]:
    """``count`` outlet names: the well-known ones first, then ``outlet6``, ``outlet7`` ..."""
    known = list(DISPLAY_NAMES)
    return known[:count] + [f"outlet{i + 1}" for i in range(len(known), count)]


def populate(site: NewsSite, total: int, rng: random.Random) -> list[str]:
    """Publish ``total`` generated articles round-robin over the outlets."""
    names, start = site.outlets, datetime(2025, 1, 1, tzinfo=UTC)
    urls = []
    for i in range(total):
        headline, paragraphs = fake_story(rng)
        urls.append(site.add_article(
            names[i % len(names)], f"story-{i:05d}", headline=headline,
            byline=f"By Reporter {rng.randint(1, 40)}", published=start + timedelta(hours=i),
            paragraphs=paragraphs, section=rng.choice(SECTIONS)))
    return urls


def write_urls(path: Path, urls: Sequence[str]) -> None:
    """Write one URL per line, atomically (write a temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(u + "\n" for u in urls))
    os.replace(tmp, path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outlets", type=int, default=3, help="number of outlets")
    parser.add_argument("--articles", type=int, default=100, help="articles in total")
    parser.add_argument("--page-kb", type=int, default=0, help="pad pages to about this size")
    parser.add_argument("--urls-file", type=Path, help="write the article URLs here")
    parser.add_argument("--edit-every", type=float, help="edit a random article every N s")
    parser.add_argument("--static", action="store_true", help="all outlets static (ETag/304)")
    parser.add_argument("--gzip", action="store_true", help="all outlets gzip when asked")
    parser.add_argument("--seed", type=int, default=1, help="seed for the generated text")
    parser.add_argument("--demo", action="store_true",
                        help="walkthrough: Enter edits story 1 and takes story 2 down")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = outlet_names(args.outlets)
    site = NewsSite(names, page_kb=args.page_kb, static_outlets=names if args.static else (),
                    gzip_outlets=names if args.gzip else (), log_limit=0)
    rng = random.Random(args.seed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.demo:
        return run_demo(args)
    with site:
        urls = populate(site, args.articles, rng)
        if args.urls_file:
            write_urls(args.urls_file, urls)
        for name in names:
            print(name, site.base_url(name), flush=True)
        while not stop.wait(args.edit_every) and urls:
            url = rng.choice(urls)
            site.edit(url, append=fake_paragraph(rng))
            print("EDIT", url, flush=True)
    return 0


DEMO_LEDE = ("RedNote, known in China as Xiaohongshu, gained {users} new American users in two "
             "days as TikTok faced a ban, the company said on Tuesday.")
DEMO_BODY = [
    "The app, which had 300 million monthly users before the influx, topped the US App Store "
    "charts for the first time this week.",
    "\"It feels like a cultural exchange,\" said Jane Doe, a 24-year-old designer from Ohio "
    "who joined the app on Monday.",
    "Analysts said the migration was unlikely to last if the ban on TikTok was delayed by the "
    "incoming administration.",
]


def run_demo(args: argparse.Namespace) -> int:
    """Three stories; Enter edits the first and takes the second down."""
    site = NewsSite(["cnn", "apnews", "reuters"], log_limit=0)
    stop, entered = threading.Event(), threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with site:
        urls = _demo_stories(site)
        if args.urls_file:
            write_urls(args.urls_file, urls)
        print("\n".join(urls), flush=True)
        print("Press Enter to edit the CNN story and take the AP story down (Ctrl-C to stop).",
              flush=True)
        threading.Thread(target=lambda: (sys.stdin.readline(), entered.set()), daemon=True).start()
        while not stop.is_set() and not entered.wait(0.2):
            pass
        if not stop.is_set():
            site.edit(urls[0], headline="The great social media migration: US users flock to RedNote",
                      paragraphs=[DEMO_LEDE.format(users="more than 3 million"), *DEMO_BODY],
                      append="Correction: An earlier version of this story misstated the number "
                             "of new users.")
            site.set_status(urls[1], 404)
            print(f"EDIT {urls[0]}\nGONE {urls[1]} (404)", flush=True)
        stop.wait()
    return 0


def _demo_stories(site: NewsSite) -> list[str]:
    published = datetime(2025, 1, 14, 9, 0, tzinfo=UTC)
    return [
        site.add_article("cnn", "rednote-explainer", byline="By Jane Roe", published=published,
                         headline="What is RedNote, the Chinese app US 'TikTok refugees' are "
                         "flocking to?", paragraphs=[DEMO_LEDE.format(users="700,000"), *DEMO_BODY]),
        site.add_article("apnews", "tiktok-refugees", byline="By John Poe", published=published,
                         headline="TikTok refugees are pouring to Xiaohongshu",
                         paragraphs=DEMO_BODY[::-1]),
        site.add_article("reuters", "half-million", byline="By Ann Lee", published=published,
                         headline="Over half a million 'TikTok refugees' flock to RedNote",
                         paragraphs=DEMO_BODY),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
