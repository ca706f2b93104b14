"""The README stays true: its example sources.toml parses, every setting and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.config import load_settings, read_sources_file
from monitor.settings import describe
from tests.conftest import REPO, run_cli

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_sources_toml_example_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_IDENTITY__CONTACT_URL")  # the environment would win over the file
    example, health = re.findall(r"```toml\n(.*?)```", README, re.DOTALL)
    path = tmp_path / "sources.toml"
    path.write_text(example, encoding="utf-8")
    file = read_sources_file(path)
    assert len(file.sources) == 1 and file.sources[0].interval is not None
    settings = load_settings({}, file)
    assert settings.identity.contact_url == "mailto:desk@example.org"
    path.write_text(health, encoding="utf-8")  # "When is a link dead?"
    policy = load_settings({}, read_sources_file(path)).health
    assert (policy.dead_after, policy.dead_min_span.days, policy.canary_urls) == (
        3, 3, ["https://www.example.org/"])


def test_every_setting_is_in_the_readme_table() -> None:
    for key, default, _ in describe():
        env = "MONITOR_" + key.upper().replace(".", "__")
        assert f"| `{key}` | `{default}` | `{env}` |" in README, key


def test_every_command_is_in_the_readme() -> None:
    help_text = run_cli(REPO, "--help").out
    commands = re.findall(r"^│ (\w+)\s", help_text, re.MULTILINE)
    assert len(commands) >= 12
    for command in commands:
        assert f"`monitor {command}" in README, command


def test_readme_setup_commands_are_the_ones_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -e . && monitor run" in README
    assert 'pip install -e ".[test]" && python -m pytest' in README
    assert "python -m pytest" in ci
