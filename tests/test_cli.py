"""Every command, end to end, through the real `monitor` program against the local site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PARAGRAPHS, REPO, publish, run_cli
from tests.site import NewsSite

pytestmark = pytest.mark.slow


def test_import_then_check_from_an_empty_home(site: NewsSite, home_dir: Path) -> None:
    urls = [publish(site, "apnews", "one"), publish(site, "cnn", "two")]
    doc = home_dir.parent / "piece.md"
    doc.write_text(f"Sources: [AP]({urls[0]}?utm_source=x), {urls[1]}.\nAgain: {urls[0]}\n")
    result = run_cli(home_dir, "import", str(doc))
    assert result.code == 0, result.err
    assert "2 links" in result.out and "2 added" in result.out
    result = run_cli(home_dir, "check")
    assert result.code == 0, result.err
    assert result.out.count("first version archived") == 2
    assert (home_dir / "archive" / "monitor.db").exists()
    assert list((home_dir / "archive" / "warc").glob("*.warc.gz"))


def test_seed_import_gives_ten_sources_and_unreachable_is_calm(home_dir: Path, seed: Path) -> None:
    result = run_cli(home_dir, "import", str(seed))
    assert "10 links" in result.out and "10 added" in result.out
    result = run_cli(home_dir, "check")  # no internet here: every host fails to resolve
    assert result.code == 0, result.err
    assert "OFFLINE" in result.out and "no source is judged dead" in result.out
    events = [json.loads(line) for line in run_cli(home_dir, "events", "--json").out.splitlines()]
    assert [e["kind"] for e in events] == ["offline"]
    assert "Traceback" not in result.err


def test_change_and_404_are_flagged_diffed_reported_and_restorable(
    site: NewsSite, home_dir: Path
) -> None:
    story, doomed = publish(site, "cnn", "rednote"), publish(site, "apnews", "doomed")
    assert run_cli(home_dir, "add", story, "--title", "CNN on RedNote").code == 0
    assert run_cli(home_dir, "add", doomed).code == 0
    assert run_cli(home_dir, "check").code == 0
    original = site.last_body(story)
    site.edit(story, headline="The great social media migration",
              paragraphs=[PARAGRAPHS[0].replace("300 million", "320 million"), *PARAGRAPHS[1:]])
    site.set_status(doomed, 404)
    result = run_cli(home_dir, "check")
    assert result.code == 0
    assert "changed #1" in result.out and "failing #2" in result.out

    status = run_cli(home_dir, "status").out
    assert "failing" in status and "CNN on RedNote" in status
    detail = run_cli(home_dir, "status", "2").out
    assert '"status": 404' in detail

    diff = run_cli(home_dir, "diff", story, "--plain").out
    assert "[-300-]" in diff and "{+320+}" in diff and "headline" in diff

    report = home_dir / "out" / "report.html"
    assert run_cli(home_dir, "report", "-o", str(report)).code == 0
    html = report.read_text()
    assert "The great social media migration" in html and "320" in html
    assert "<script src" not in html and "stylesheet" not in html

    restored = home_dir / "v1.html"
    first_capture = run_cli(home_dir, "events", "--json", "--kind", "archived").out.splitlines()[0]
    at = json.loads(first_capture)["at"]
    assert run_cli(home_dir, "restore", "1", "--at", at, "-o", str(restored)).code == 0
    assert restored.read_bytes() == original
    text = run_cli(home_dir, "restore", "1", "--as", "text").out
    assert text.startswith("The great social media migration") and "320 million" in text
    warc = home_dir / "copy.warc.gz"
    assert run_cli(home_dir, "restore", "1", "--as", "warc", "-o", str(warc)).code == 0
    assert subprocess.run(["warcio", "check", str(warc)]).returncode == 0


def test_events_json_is_the_documented_shape(site: NewsSite, home_dir: Path) -> None:
    url = publish(site, "apnews", "shape")
    run_cli(home_dir, "add", url)
    run_cli(home_dir, "check")
    site.edit(url, append="Editor's note: This story has been updated with new figures.")
    run_cli(home_dir, "check")
    lines = run_cli(home_dir, "events", "--json").out.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["kind"] for e in events] == ["archived", "changed"]
    for event in events:
        assert list(event) == ["id", "at", "kind", "severity", "source_id", "url", "summary",
                               "details"]
        assert event["at"].endswith("Z") and event["url"] == url and event["source_id"] == 1
    changed = events[1]
    assert changed["severity"] in ("major", "critical")
    assert "correction" in changed["details"]["classification"]
    assert changed["details"]["version_before"] != changed["details"]["version_after"]
    since = run_cli(home_dir, "events", "--json", "--since", events[1]["at"]).out.splitlines()
    assert [json.loads(line)["kind"] for line in since] == ["changed"]


def test_pause_resume_remove(site: NewsSite, home_dir: Path) -> None:
    url = publish(site, "apnews", "managed")
    run_cli(home_dir, "add", url)
    assert "paused" in run_cli(home_dir, "pause", url).out
    assert "No active sources" in run_cli(home_dir, "check").out
    assert site.hits(url) == 0
    run_cli(home_dir, "resume", "1")
    run_cli(home_dir, "check")
    assert site.hits(url) == 1
    assert "history kept" in run_cli(home_dir, "remove", "1").out
    assert "managed" not in run_cli(home_dir, "status").out
    assert run_cli(home_dir, "restore", "1", "--as", "text").code == 0  # history stays
    assert run_cli(home_dir, "remove", "1", "--purge").code == 0
    assert run_cli(home_dir, "restore", "1").code == 2


def test_sources_file_sync_adds_updates_and_pauses(site: NewsSite, home_dir: Path) -> None:
    a, b = publish(site, "apnews", "a"), publish(site, "cnn", "b")
    config = home_dir / "config"
    config.mkdir()
    (config / "sources.toml").write_text(
        f'[[sources]]\nurl = "{a}"\ntitle = "A"\n[[sources]]\nurl = "{b}"\n')
    run_cli(home_dir, "check")
    assert site.hits(a) == 1 and site.hits(b) == 1
    (config / "sources.toml").write_text(f'[[sources]]\nurl = "{a}"\ntitle = "A renamed"\n')
    run_cli(home_dir, "check")
    assert site.hits(b) == 1  # removed from the file: paused, not checked
    status = run_cli(home_dir, "status").out
    assert "A renamed" in status and "paused" in status


@pytest.mark.parametrize(("args", "message"), [
    (("status", "99"), "no source '99'"),
    (("add", "ftp://example.com/x"), "not an http(s) URL"),
    (("restore", "1", "--at", "yesterday"), "--at: not an ISO 8601 time"),
    (("events", "--since", "soon"), "--since: not an ISO 8601 time"),
])
def test_bad_input_is_one_clear_line(home_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = run_cli(home_dir, *args)
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_broken_sources_file_names_file_and_entry(home_dir: Path) -> None:
    (home_dir / "config").mkdir()
    (home_dir / "config" / "sources.toml").write_text('[[sources]]\nurl = "https://a.example/x"\n'
                                                      'interval = "often"\n')
    result = run_cli(home_dir, "check")
    assert result.code == 2
    assert "sources.toml: sources[0] (url 'https://a.example/x'): interval: not a duration" \
        in " ".join(result.err.split())


def test_every_command_has_help() -> None:
    result = run_cli(REPO, "--help")
    commands = ["run", "check", "add", "remove", "pause", "resume", "import", "status", "events",
                "diff", "report", "restore", "health", "timemap", "annotate"]
    for command in commands:
        assert command in result.out
        help_text = run_cli(REPO, command, "--help")
        assert help_text.code == 0 and "Usage" in help_text.out


LIST_MODULES = """
import sys
from monitor.cli import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\\nloaded: " + " ".join(sorted(sys.modules)))
"""
# loaded by the commands that use them, never by every start
HEAVY = {"alembic", "trafilatura", "htmldate", "httpx", "apprise", "apscheduler", "jinja2",
         "fastapi", "procrastinate", "psycopg"}


def _loaded(home: Path, *args: str) -> set[str]:
    """The top-level modules the ``monitor`` program had loaded when it finished ``args``."""
    proc = subprocess.run([sys.executable, "-c", LIST_MODULES, *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "MONITOR_HOME": str(home)})
    assert "loaded: " in proc.stderr, proc.stderr
    return {name.split(".")[0] for name in proc.stderr.rsplit("loaded: ", 1)[1].split()}


def test_help_and_a_check_with_nothing_to_do_load_only_what_they_use(home_dir: Path) -> None:
    """Start-up cost: --help needs neither the database nor the settings; a check of a home
    whose database is at head (and has nothing to check) needs no migrations, HTTP client,
    extractor or notifier."""
    assert _loaded(home_dir, "--help") & (HEAVY | {"sqlalchemy", "sqlmodel", "pydantic"}) == set()
    assert "alembic" in _loaded(home_dir, "check")  # a new database: the migrations run
    loaded = _loaded(home_dir, "check")
    assert loaded & HEAVY == set() and "sqlalchemy" in loaded
