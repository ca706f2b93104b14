"""The sources file and settings: shipped defaults, precedence, one-line errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_settings, read_sources_file
from monitor.settings import parse_duration
from tests.conftest import REPO


def test_shipped_sources_file_has_the_ten_cited_articles(seed: Path) -> None:
    file = read_sources_file(REPO / "config" / "sources.toml")
    seed_text = seed.read_text(encoding="utf-8")
    assert len(file.sources) == 10
    for entry in file.sources:
        assert entry.outlet and entry.title
        assert entry.url.split("?")[0] in seed_text
    assert all("utm_" not in entry.url for entry in file.sources)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ('[[sources]]\nurl = "ftp://x"\n', "sources[0] (url 'ftp://x'): url: not an http(s) URL"),
    ('[[sources]]\nurl = "https://a.b/x"\ninterval = "soon"\n', "sources[0] (url 'https://a.b/x'): "
     "interval: not a duration"),
    ('[[sources]]\nurl = "https://a.b/x"\ncolour = "red"\n', "colour: unknown key"),
    ('[[sources]]\ntitle = "no url"\n', "sources[0]: url: required"),
    ('[[sources]]\nurl = "https://a.b/x"\n[[sources]]\nurl = "https://A.b/x#f"\n',
     "sources[1] (url 'https://a.b/x'): same URL as sources[0]"),
    ("[[sources]\nurl = 1", "not valid TOML"),
    ("[sourcez]\n", "unknown top-level key 'sourcez'"),
])
def test_bad_sources_file_is_one_line_naming_file_entry_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_sources_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert expected in message


def test_bad_setting_names_the_key(tmp_path: Path) -> None:
    file = read_sources_file(_write(tmp_path, "[settings.health]\ndead_after = 0\n"))
    with pytest.raises(ConfigError, match=r"health\.dead_after: Input should be greater"):
        load_settings({}, file)


def test_a_gzip_level_the_engine_lacks_is_named(tmp_path: Path) -> None:
    file = read_sources_file(_write(tmp_path, "[settings.archive]\ngzip_level = 6\n"))
    with pytest.raises(ConfigError, match=r"archive: .*gzip_level 6 is outside isal's levels \(0-3\)"):
        load_settings({}, file)
    assert load_settings({"archive": {"gzip_engine": "zlib", "gzip_level": 6}}, file).archive.gzip_level == 6


def test_settings_precedence_flag_over_env_over_file_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = read_sources_file(_write(tmp_path, (
        "[settings.health]\ndead_after = 4\ndead_min_span = '2d'\n"
        "[settings.fetch]\nper_host = 5\n")))
    monkeypatch.setenv("MONITOR_HEALTH__DEAD_AFTER", "7")
    settings = load_settings({"fetch": {"per_host": 9}}, file)
    assert settings.health.dead_after == 7  # env over file
    assert settings.health.dead_min_span == timedelta(days=2)  # file over default
    assert settings.fetch.per_host == 9  # flag over file
    assert settings.fetch.concurrency == 16  # default


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("15m", 900), ("6h", 21600), ("3d", 259200), ("1h30m", 5400),
    ("P3D", 259200), ("PT1H", 3600), (45, 45),
])
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds
