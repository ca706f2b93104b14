"""A big pass split over processes by host (monitor/shards.py): the split, the summary, and
real ``monitor check`` and ``monitor run`` processes against the imitation site, whose results
must equal those of one process while each host stays within its politeness limit."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from monitor.check import CheckOutcome
from monitor.schedule import KEPT, PassSummary
from monitor.shards import QUORUM, split_by_host
from monitor.store import open_engine, session
from monitor.store.models import Capture, Source
from tests.conftest import publish, run_cli, wait_for
from tests.site import NewsSite

OUTLETS = ["apnews", "reuters", "cnn", "bbc", "guardian", "nytimes"]
SHARDED = {"MONITOR_SCHEDULE__SHARDS": "2", "MONITOR_SCHEDULE__SHARD_MIN": "10",
           "MONITOR_FETCH__PER_HOST": "1"}
ONE_PROCESS = {"MONITOR_SCHEDULE__SHARDS": "1", "MONITOR_FETCH__PER_HOST": "1"}


def _urls(hosts: dict[str, int]) -> dict[int, str]:
    urls, n = {}, 0
    for host, count in hosts.items():
        for i in range(count):
            n += 1
            urls[n] = f"http://{host}/story-{i}"
    ids = list(urls)
    random.Random(4).shuffle(ids)  # pass order is not host order
    return {i: urls[i] for i in ids}


def test_each_host_is_in_one_group_with_a_quorum_per_group_and_pass_order_kept() -> None:
    hosts = {f"h{i}.example:80{i}": size for i, size in enumerate([40, 30, 30, 20, 10, 10, 5, 5])}
    urls = _urls(hosts)
    groups = split_by_host(urls, 2)
    assert len(groups) == 2
    assert sorted(i for g in groups for i in g) == sorted(urls)
    owner: dict[str, int] = {}
    for number, group in enumerate(groups):
        assert group == [i for i in urls if i in set(group)]  # the pass's order within a group
        group_hosts = {urls[i].split("/")[2] for i in group}
        assert len(group_hosts) >= QUORUM
        for host in group_hosts:
            assert owner.setdefault(host, number) == number  # a host in one group only
    assert sorted(len(g) for g in groups) == [75, 75]


@pytest.mark.parametrize(("hosts", "shards", "groups"), [
    (5, 2, 1),  # two groups would leave one with fewer hosts than the offline guard's quorum
    (6, 2, 2), (6, 4, 2), (12, 4, 4), (1, 8, 1),
])
def test_fewer_groups_when_hosts_are_few(hosts: int, shards: int, groups: int) -> None:
    urls = _urls({f"h{i}": 3 for i in range(hosts)})
    found = split_by_host(urls, shards)
    assert len(found) == groups
    if groups == 1:
        assert found == [list(urls)]


def test_summaries_of_shards_add_up_and_keep_at_most_kept_outcomes() -> None:
    def part(checked: int, with_events: int, offline: bool) -> PassSummary:
        summary = PassSummary(checked=checked, changed=with_events, extracted=checked, offline=offline)
        summary.signals["ok"] = checked
        summary.outcomes = [CheckOutcome(i, f"u{i}", "ok", "", [object()])  # type: ignore[list-item]
                            for i in range(with_events)]
        summary.errored = {checked}
        return summary

    total = part(10, KEPT - 5, False)
    total.merge(part(20, 8, True))
    assert (total.checked, total.changed, total.extracted, total.offline) == (30, KEPT + 3, 30, True)
    assert total.signals["ok"] == 30 and total.errored == {10, 20}
    assert len(total.outcomes) == KEPT and total.unlisted == 3


# ------------------------------------------------------------------ real processes


def _warc_pids(home: Path) -> set[str]:
    names = [p.name for p in (home / "archive" / "warc").glob("*.warc.gz")]
    return {m.group(1) for n in names if (m := re.match(r"monitor-\d{8}T\d{12}-(\d+)-", n))}


def _events(home: Path, env: dict[str, str]) -> Counter[tuple[str, str]]:
    out = run_cli(home, "events", "--json", env=env).out
    return Counter((e["kind"], e["url"]) for e in map(json.loads, out.splitlines()) if e["url"])


def _captures(home: Path) -> Counter[int]:
    engine = open_engine(f"sqlite:///{home / 'archive' / 'monitor.db'}", migrate=False)
    try:
        with session(engine) as db:
            return Counter(c.source_id for c in db.exec(select(Capture)).all())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_sharded_check_equals_one_process_and_keeps_each_host_polite(tmp_path: Path) -> None:
    with NewsSite(outlets=OUTLETS) as site:
        urls = [publish(site, outlet, f"story-{n}") for outlet in OUTLETS for n in range(4)]
        for url in urls:
            site.hang(url, 0.05)  # two requests to one host would overlap: politeness is visible
        (tmp_path / "urls.txt").write_text("".join(u + "\n" for u in urls))
        homes = {"sharded": (tmp_path / "sharded", SHARDED), "one": (tmp_path / "one", ONE_PROCESS)}
        for home, env in homes.values():
            home.mkdir()
            assert run_cli(home, "import", str(tmp_path / "urls.txt"), env=env).code == 0
        edited = urls[::5]
        lines = {}
        for round_ in range(2):
            for name, (home, env) in homes.items():
                result = run_cli(home, "check", env=env, timeout=120)
                assert result.code == 0, result.err
                lines[name, round_] = result.out.strip().splitlines()[-1]
            for url in edited:
                site.edit(url, append="Correction: an earlier version misstated the figures.")
        peaks = {outlet: site.peak_in_flight(outlet) for outlet in OUTLETS}
    assert peaks == dict.fromkeys(OUTLETS, 1)
    assert len(_warc_pids(homes["sharded"][0])) == 4  # two passes, each in this process and one shard
    assert len(_warc_pids(homes["one"][0])) == 2
    for round_ in range(2):
        assert lines["sharded", round_].split(" in ")[0] == lines["one", round_].split(" in ")[0]
    assert lines["sharded", 1].startswith(f"pass: {len(urls)} checked, {len(edited)} changed")
    sharded, one = (_events(h, e) for h, e in homes.values())
    assert sharded == one and sharded[("changed", edited[0])] == 1
    assert set(_captures(homes["sharded"][0]).values()) == {2}  # every source, once per pass


@pytest.mark.slow
def test_the_daemon_shards_a_backlog_and_a_dead_shard_loses_nothing(tmp_path: Path) -> None:
    """``monitor run`` with more due sources than a batch: a sharded pass. A shard worker
    SIGKILLed mid-pass has its sources released, counted as errors and checked again."""
    env = {**SHARDED, "MONITOR_SCHEDULE__BATCH": "5", "MONITOR_SCHEDULE__TICK": "1s"}
    with NewsSite(outlets=OUTLETS) as site:
        home, urls = _watching(tmp_path, site, env)
        for url in urls:
            site.hang(url, 1.0)  # the first pass takes a while: time to kill a shard in it
        with (home / "daemon.log").open("w") as log:
            daemon = subprocess.Popen([sys.executable, "-m", "monitor", "-v", "run"], cwd=home,
                                      env={**_env(home), **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: bool(_shard_workers(daemon.pid)), "a shard worker", timeout=30)
            wait_for(lambda: sum(site.hits(u) for u in urls) >= 4, "the pass to fetch", timeout=30)
            _shard_workers(daemon.pid)[0].kill()  # SIGKILL, mid-pass
            for url in urls:
                site.restore(url)
            wait_for(lambda: set(urls) <= _checked(home, urls), "every source checked", timeout=60)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                code = daemon.wait(timeout=60)
            finally:
                if daemon.poll() is None:
                    daemon.kill()
    text = (home / "daemon.log").read_text()
    assert code == 0, text
    assert "a shard process died checking" in text, text
    assert "Traceback" not in text, text
    first = re.search(r"pass: (\d+) checked, .* (\d+) errors", text)
    assert first is not None and int(first[1]) + int(first[2]) == len(urls), text


def _watching(tmp_path: Path, site: NewsSite, env: dict[str, str]) -> tuple[Path, list[str]]:
    """A new home watching four articles on each outlet of ``site``, and their URLs."""
    home = tmp_path / "home"
    home.mkdir()
    urls = [publish(site, outlet, f"story-{n}") for outlet in OUTLETS for n in range(4)]
    (tmp_path / "urls.txt").write_text("".join(u + "\n" for u in urls))
    assert run_cli(home, "import", str(tmp_path / "urls.txt"), env=env).code == 0
    return home, urls


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "MONITOR_HOME": str(home)}


def _checked(home: Path, urls: list[str]) -> set[str]:
    engine = open_engine(f"sqlite:///{home / 'archive' / 'monitor.db'}", migrate=False)
    try:
        with session(engine) as db:
            return {c.url for c in db.exec(select(Capture)).all() if c.status == 200}
    finally:
        engine.dispose()


class _Proc:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


def _shard_workers(parent: int) -> list[_Proc]:
    """The daemon's shard workers: its children started by multiprocessing's spawn."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            found.append(_Proc(int(stat.parent.name)))
    return found


@pytest.mark.slow
def test_a_stopping_daemon_cancels_its_shards_mid_pass(tmp_path: Path) -> None:
    """SIGTERM while every fetch hangs: the daemon and its shard workers stop within the grace
    period, not after the pass, and leave no source leased."""
    env = {**SHARDED, "MONITOR_SCHEDULE__BATCH": "5", "MONITOR_SCHEDULE__GRACE": "1s"}
    with NewsSite(outlets=OUTLETS) as site:
        home, urls = _watching(tmp_path, site, env)
        for url in urls:
            site.hang(url, 25)
        daemon = subprocess.Popen([sys.executable, "-m", "monitor", "run"], cwd=home,
                                  env={**_env(home), **env}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: bool(_shard_workers(daemon.pid)), "a shard worker", timeout=30)
            wait_for(lambda: sum(site.hits(u) for u in urls) >= 6, "fetches in both shards", timeout=30)
            workers = _shard_workers(daemon.pid)
            started = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=30)
            took = time.monotonic() - started
        finally:
            if daemon.poll() is None:
                daemon.kill()
            for url in urls:
                site.restore(url)
    assert daemon.returncode == 0, err
    assert took < 15, (took, err)
    assert not any(Path(f"/proc/{w.pid}").exists() for w in workers)
    engine = open_engine(f"sqlite:///{home / 'archive' / 'monitor.db'}", migrate=False)
    try:
        with session(engine) as db:
            assert all(s.lease_until is None for s in db.exec(select(Source)).all())
    finally:
        engine.dispose()
