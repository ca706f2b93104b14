"""Reading ``config/sources.toml``: the default source list and the ``[settings]`` table.

A bad file yields one ``ConfigError`` line naming the file, the entry and the problem.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.clock import as_utc
from monitor.settings import Duration, Settings, build_settings
from monitor.urls import BadURL, canonicalize


class ConfigError(Exception):
    """One line: what is wrong and where."""


class SourceEntry(BaseModel):
    """One ``[[sources]]`` entry."""

    model_config = ConfigDict(extra="forbid")

    url: str
    title: str | None = None
    outlet: str | None = None
    tags: list[str] = Field(default_factory=list)
    interval: Duration | None = None
    cited_at: datetime | None = None

    @field_validator("url")
    @classmethod
    def _canonical(cls, value: str) -> str:
        try:
            return canonicalize(value)
        except BadURL as exc:
            raise ValueError(str(exc)) from None

    @field_validator("cited_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value else None


class SourcesFile(BaseModel):
    """What a sources file holds; ``exists`` is False when there is none (not an error)."""

    path: Path
    exists: bool
    settings: dict[str, Any] = Field(default_factory=dict)
    sources: list[SourceEntry] = Field(default_factory=list)


def read_sources_file(path: Path) -> SourcesFile:
    if not path.exists():
        return SourcesFile(path=path, exists=False)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"settings", "sources"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r} (expected settings, sources)")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: [settings] must be a table")
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{path}: sources must be an array of tables ([[sources]])")
    entries = [_entry(path, index, raw) for index, raw in enumerate(raw_sources)]
    _reject_duplicates(path, entries)
    return SourcesFile(path=path, exists=True, settings=settings, sources=entries)


def _entry(path: Path, index: int, raw: object) -> SourceEntry:
    where = f"{path}: sources[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table with at least url = \"…\"")
    if "url" in raw:
        where += f" (url {raw['url']!r})"
    try:
        return SourceEntry.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {first_problem(exc)}") from None


def _reject_duplicates(path: Path, entries: list[SourceEntry]) -> None:
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.url in seen:
            raise ConfigError(
                f"{path}: sources[{index}] (url {entry.url!r}): same URL as sources[{seen[entry.url]}]"
            )
        seen[entry.url] = index


def first_problem(exc: ValidationError) -> str:
    """The first validation error as ``field.sub: message``."""
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"]) or "value"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required"
    return f"{loc}: {message}"


def load_settings(flags: dict[str, Any], file: SourcesFile) -> Settings:
    """Settings with the file's ``[settings]`` as the lowest layer above the defaults."""
    try:
        return build_settings(flags, file.settings)
    except ValidationError as exc:
        raise ConfigError(f"settings (flags, MONITOR_* environment or {file.path}): "
                          f"{first_problem(exc)}") from None
