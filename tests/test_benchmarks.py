"""The benchmarks still run and still meet their targets (quick sizes, fixed seeds)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, shared


def test_health_benchmark_meets_its_targets() -> None:
    """Recall 1.0 per death kind, no false dead, only `offline` in the outage pass."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "health.py"), "--quick",
                           "--seed", "7"], capture_output=True, text=True, timeout=110, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "seed 7:" in proc.stdout and "TARGET MISSED" not in proc.stdout
    assert "outage pass: Counter({'offline': 1})" in proc.stdout


def test_changes_benchmark_meets_its_targets() -> None:
    """Recall 1.0 on substantive edits and at most 1 false alert per 1,000 checks."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "changes.py"), "--quick",
                           "--seed", "1"], capture_output=True, text=True, timeout=110, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "recall on substantive edits" in proc.stdout


def test_archive_bytes_benchmark_meets_its_target() -> None:
    """An unchanged check's record costs at most 2 KB, churning page or not; keep=every is the peer."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "archive_bytes.py"), "--quick",
                           "--seed", "1"], capture_output=True, text=True, timeout=110, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "metadata" in proc.stdout and "archive.keep = every" in proc.stdout


# ---------------------------------------------------------------- issue 7: the page server and
# the throughput, scale and urlwatch benchmarks (their figures are printed, never asserted)

def _fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read(), dict(answer.headers)


def _unseen_by_readers(page: bytes) -> bytes:
    """The page without script contents, comments and nonces: what churn may change."""
    import re

    page = re.sub(rb"(<script\b[^>]*>).*?(</script>)", rb"\1\2", page, flags=re.S)
    page = re.sub(rb"<!--.*?-->", b"", page, flags=re.S)
    return re.sub(rb'\snonce="[^"]*"', b"", page)


def test_page_server_serves_what_each_mode_promises() -> None:
    """churn changes only scripts, comments and nonces; visible changes the text too; etag
    answers 304 to its validator; static repeats its bytes without validators; edits land."""
    from benchmarks.pageserver import PageServer, Spec

    modes = ("churn", "visible", "etag", "static")
    with PageServer(Spec(modes, urls=8, articles=8, page_kb=30)) as server:
        urls = {mode: server.urls[i] for i, mode in enumerate(modes)}  # page i is on outlet i
        first = {mode: _fetch(url) for mode, url in urls.items()}
        again = {mode: _fetch(url) for mode, url in urls.items()}
        for mode in modes:
            assert first[mode][0] == 200 and 25_000 < len(first[mode][1]) < 40_000, mode
        assert first["churn"][1] != again["churn"][1]
        assert _unseen_by_readers(first["churn"][1]) == _unseen_by_readers(again["churn"][1])
        assert _unseen_by_readers(first["visible"][1]) != _unseen_by_readers(again["visible"][1])
        assert first["etag"][1] == again["etag"][1] and first["static"][1] == again["static"][1]
        etag = first["etag"][2]["ETag"]
        assert _fetch(urls["etag"], {"If-None-Match": etag})[0] == 304
        assert "ETag" not in first["static"][2]
        assert _fetch(urls["static"], {"If-None-Match": etag})[0] == 200
        assert _fetch(server.bases[0] + "/article/nothing-here")[0] == 404
        edited = server.edit(0.5, seed=3)
        assert len(edited) == 4 and edited <= set(server.urls)
        for mode in ("etag", "static"):  # bytes that never changed change with an edit only
            assert (_fetch(urls[mode])[1] != first[mode][1]) == (urls[mode] in edited)
        cpu, statuses = server.stats()
        assert cpu > 0 and statuses[304] == 1 and statuses[404] == 1


@pytest.mark.timeout(240)
def test_throughput_benchmark_runs() -> None:
    """Every scenario runs and checks itself: changed events == edits, 304s are 304s."""
    corpus = shared("corpus/article-extraction-benchmark/html")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--quick",
                           "--corpus", str(corpus)],
                          capture_output=True, text=True, timeout=230, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "extraction bound: median" in proc.stdout and "real pages of" in proc.stdout
    for scenario in ("first", "churn", "edited", "304", "identical"):
        assert f"\n{scenario} " in proc.stdout


@pytest.mark.timeout(180)
def test_scale_benchmark_runs() -> None:
    """The daemon checks every cloned source once; nothing changes or fails."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "scale.py"), "--sources", "300",
                           "--templates", "30", "--outlets", "6", "--timeout", "90"],
                          capture_output=True, text=True, timeout=170, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "300 of 300 sources checked" in proc.stdout


@pytest.mark.timeout(180)
def test_vs_urlwatch_benchmark_runs() -> None:
    """Both tools check every URL of the real corpus on every pass; the ratios are printed."""
    import shutil

    corpus = shared("corpus/article-extraction-benchmark/html")
    if shutil.which("urlwatch") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("urlwatch is missing: CI must install the bench extra (.[test,bench])")
        pytest.skip("urlwatch not installed (pip install -e '.[bench]')")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "vs_urlwatch.py"), "--quick",
                           "--corpus", str(corpus)],
                          capture_output=True, text=True, timeout=170, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "monitor/urlwatch" in proc.stdout and "churn: invisible" in proc.stdout
