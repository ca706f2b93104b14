"""Every setting the monitor has, declared once, typed and documented.

Precedence (DESIGN.md, "Settings"): command-line flag > environment
(``MONITOR_<SECTION>__<KEY>``) > ``[settings]`` in sources.toml > the defaults here.
Nothing else in the package reads the environment.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from monitor import __version__

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)")


def parse_duration(value: object) -> timedelta:
    """``90`` (seconds), ``"90s"``, ``"15m"``, ``"6h"``, ``"3d"``, ``"1h30m"`` or ISO ``"P3D"``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    if text.startswith("p"):
        return _parse_iso_duration(text, value)
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip():
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 6h, 3d)")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def _parse_iso_duration(text: str, original: str) -> timedelta:
    match = re.fullmatch(r"p(?:(\d+)w)?(?:(\d+)d)?(?:t(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?)?", text)
    if not match or text in ("p", "pt"):
        raise ValueError(f"not a duration: {original!r}")
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // int(_UNITS[unit])}{unit}"
    return f"{delta.total_seconds():g}s"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class FetchSettings(Section):
    timeout: Duration = Field(timedelta(seconds=30), description="Total time for one response.")
    connect_timeout: Duration = Field(timedelta(seconds=10), description="Time to connect.")
    max_bytes: int = Field(20_000_000, gt=0, description="Largest body kept; larger is an error.")
    max_redirects: int = Field(10, ge=0, description="Redirect hops followed and recorded.")
    concurrency: int = Field(16, gt=0, description="Requests in flight at once, all hosts.")
    per_host: int = Field(2, gt=0, description="Requests in flight at once to one host.")
    http2: bool = Field(True, description="Use HTTP/2 where the server offers it (TLS only).")
    verify_tls: bool = Field(True, description="Check TLS certificates.")


class IdentitySettings(Section):
    name: str = Field("source-monitor", description="Service name in the User-Agent.")
    contact_url: str = Field(
        "https://example.invalid/set-identity.contact_url",
        description="Where site operators can reach you (your page or mailto:); set it.",
    )

    def user_agent(self) -> str:
        return f"{self.name}/{__version__} (+{self.contact_url})"


class HealthSettings(Section):
    dead_after: int = Field(3, ge=1, description="Failed checks before a source is dead.")
    dead_min_span: Duration = Field(
        timedelta(days=3), description="Time the failures must span (first to last)."
    )
    gone_after: int = Field(2, ge=1, description="Like dead_after, for 410 Gone.")
    gone_min_span: Duration = Field(timedelta(days=1), description="Like dead_min_span, for 410.")
    offline_min_hosts: int = Field(
        3, ge=1, description="Hosts a pass needs before the offline guard may vote."
    )
    offline_ratio: float = Field(
        0.5, gt=0, le=1, description="Share of hosts failing at network level that means offline."
    )
    canary_urls: list[str] = Field(
        default_factory=list, description="Probed when too few hosts to vote; any answer = online."
    )
    transient_backoff: Duration = Field(
        timedelta(minutes=30), description="Retry delay after 429/503 without Retry-After."
    )
    max_backoff: Duration = Field(
        timedelta(hours=6), description="Longest wait a Retry-After may impose on a host."
    )
    probe: bool = Field(
        True, description="Bar-Yossef probe: fetch a random sibling path to spot soft 404s."
    )
    probe_ttl: Duration = Field(timedelta(days=7), description="How long a host's probe result is kept.")
    drift_similarity: float = Field(
        0.25, ge=0, le=1,
        description="Below this text similarity to the last good version, another article is served.",
    )


class ScheduleSettings(Section):
    interval: Duration = Field(timedelta(hours=6), description="Default time between checks.")
    jitter: float = Field(0.1, ge=0, lt=1, description="Random +/- share of the interval.")
    tick: Duration = Field(timedelta(seconds=30), description="How often the daemon looks for due sources.")
    grace: Duration = Field(
        timedelta(seconds=10), description="On stop, time in-flight checks get to finish."
    )
    batch: int = Field(500, gt=0, description="Most sources one dispatcher pass takes.")
    shards: int = Field(
        0, ge=0, description="Processes a big pass is split over, by host (monitor/shards.py); "
        "0 = one per core, 1 = never split.")
    shard_min: int = Field(
        1000, gt=0, description="Fewest sources in a pass that is split over shards.")


GZIP_LEVELS = {"isal": (0, 3), "zlib": (1, 9)}


class ArchiveSettings(Section):
    max_file_bytes: int = Field(100_000_000, gt=0, description="WARC file size before rotation.")
    fsync: bool = Field(True, description="fsync each record before its row is committed.")
    gzip_engine: Literal["isal", "zlib"] = Field(
        "isal", description="What deflates each record's gzip member: isal (Intel ISA-L, levels "
        "0-3) costs a seventh of zlib's level 4 CPU on news pages for ~10% more bytes; zlib "
        "(levels 1-9) is the reference. Both write standard gzip.")
    gzip_level: int = Field(
        2, ge=0, le=9, description="Level of gzip_engine: 0-3 for isal, 1-9 for zlib.")
    keep: Literal["changes", "every"] = Field(
        "changes", description="changes: the full response only when the article or the link "
        "health changed, or full_every has passed; every: every response in full.")
    full_every: Duration = Field(
        timedelta(days=1), description="With keep=changes, the longest time without a full response.")
    compact: Literal["metadata", "row"] = Field(
        "metadata", description="How other checks are kept: a small WARC metadata record, or the "
        "database row only.")
    replay_url: str = Field(
        "http://localhost:8080/monitor/", description="Where archived copies are replayed "
        "(pywb collection or web server): Memento and annotate link to it.")
    gc_compact_after: Duration = Field(
        timedelta(days=90), description="monitor gc prunes compact records older than this.")
    url: str = Field(
        "", description="Object storage for WARC files (s3://bucket/prefix, any fsspec URL); "
        "empty: archive/warc only. Files are written to archive/warc, uploaded once closed.")
    endpoint_url: str = Field(
        "", description="S3 endpoint for MinIO or another S3-compatible store; empty: AWS.")
    upload_after: Duration = Field(
        timedelta(minutes=5), description="With url set, a WARC file open this long is closed "
        "and uploaded; also the wait before retrying a failed upload.")

    @model_validator(mode="after")
    def _gzip_level_of_engine(self) -> ArchiveSettings:
        low, high = GZIP_LEVELS[self.gzip_engine]
        if not low <= self.gzip_level <= high:
            raise ValueError(f"gzip_level {self.gzip_level} is outside {self.gzip_engine}'s "
                             f"levels ({low}-{high})")
        return self

    @field_validator("url")
    @classmethod
    def _storage_url(cls, value: str) -> str:
        if value:
            from monitor.archive.storage import check_url  # imports fsspec: only when set

            check_url(value)
        return value

    @model_validator(mode="after")
    def _endpoint_for_s3(self) -> ArchiveSettings:
        if self.endpoint_url and not self.url.startswith(("s3://", "s3a://")):
            raise ValueError("endpoint_url applies to an s3:// url only")
        if self.endpoint_url and urlsplit(self.endpoint_url).scheme not in ("http", "https"):
            raise ValueError(f"endpoint_url is not an http(s) URL: {self.endpoint_url!r}")
        return self


class PublicSettings(Section):
    save_page_now: bool = Field(
        False, description="Submit each new version to the Internet Archive's Save Page Now.")
    spn_endpoint: str = Field(
        "https://web.archive.org/save", description="Save Page Now API; its copies are replayed "
        "under /web/ on the same host.")
    spn_access_key: str | None = Field(None, description="archive.org S3-style access key for SPN.")
    spn_secret: str | None = Field(None, description="The secret that goes with spn_access_key.")
    spn_wait: Duration = Field(
        timedelta(minutes=2), description="Longest a pass spends on SPN (submitting, then waiting "
        "for the captures); what is left is done on the next pass.")
    spn_backoff: Duration = Field(
        timedelta(minutes=30), description="Wait before retrying a failed submission; doubles "
        "with each failure, at most a day.")
    spn_max_attempts: int = Field(6, ge=1, description="Submissions of one version before giving up.")
    lookup: bool = Field(
        True, description="Ask the Memento aggregator for public copies (diff --from cited, restore).")
    aggregator: str = Field(
        "https://timetravel.mementoweb.org/timemap/link/", description="Memento aggregator: "
        "TimeMap URL prefix; the archived URL is appended.")

    @field_validator("spn_endpoint", "aggregator")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @model_validator(mode="after")
    def _keys_for_spn(self) -> PublicSettings:
        if self.save_page_now and not (self.spn_access_key and self.spn_secret):
            raise ValueError("save_page_now needs spn_access_key and spn_secret "
                             "(archive.org → account settings → S3 API keys)")
        return self


class WebSettings(Section):
    host: str = Field("127.0.0.1", description="Address monitor serve binds; anything but loopback "
                      "needs a token.")
    port: int = Field(8765, ge=0, le=65535, description="Port monitor serve listens on.")
    token: str | None = Field(
        None, min_length=16, description="API token for write endpoints and sign-in; unset: one "
        "is made and kept in archive/web-token (loopback only).")
    allow_private_urls: bool = Field(
        False, description="Let the API add URLs on private or loopback addresses.")


def _apprise_url(value: SecretStr) -> SecretStr:
    from monitor.notify.targets import check_url  # loads Apprise only when URLs are configured

    check_url(value.get_secret_value())
    return value


DEFAULT_NOTIFY_KINDS = ["changed", "dead", "moved", "recovered", "blocked"]


class NotifySettings(Section):
    urls: list[Annotated[SecretStr, AfterValidator(_apprise_url)]] = Field(
        default_factory=list, description="Apprise URLs to notify (mailto://, slack://, matrix://, "
        "ntfy://, json:// webhooks …); secrets in them are only ever logged or stored redacted.")
    kinds: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFY_KINDS), description="Event kinds that notify: "
        "one message per kind per pass to each URL.")
    dashboard_url: str | None = Field(
        None, description="The dashboard's address (monitor serve): messages link each source to "
        "its page there, dashboard_url/sources/ID.")
    max_age: Duration = Field(
        timedelta(days=1), description="Events older than this when first seen are not sent, so "
        "switching notifications on does not send old news.")
    timeout: Duration = Field(timedelta(seconds=30), description="Longest one delivery may take.")
    retry_backoff: Duration = Field(
        timedelta(minutes=5), description="Wait before retrying a failed delivery; doubles with each "
        "failure, at most a day.")
    max_attempts: int = Field(8, ge=1, description="Deliveries of one message before giving up.")

    @field_validator("urls")
    @classmethod
    def _distinct(cls, urls: list[SecretStr]) -> list[SecretStr]:
        plain = [url.get_secret_value() for url in urls]
        for index, url in enumerate(plain):
            if url in plain[:index]:
                raise ValueError(f"entry {index} repeats entry {plain.index(url)}")
        return urls

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        from monitor.events import KINDS

        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown event kind {unknown[0]!r} (known: {', '.join(KINDS)})")
        return kinds

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")


class ExtractSettings(Section):
    workers: int = Field(0, ge=0, description="Extraction processes; 0 = one per core.")
    min_ratio: float = Field(
        0.2, ge=0, le=1, description="Below this share of the last text, extraction failed."
    )
    fast_path: bool = Field(
        True, description="Skip extraction when the page's extraction input is byte for byte "
        "the one the current version was extracted from (scripts, styles, comments and nonces "
        "aside); exact, so off only to compare.")


class CompareSettings(Section):
    flipflop_window: int = Field(5, ge=0, description="Earlier versions checked for flip-flops.")


class DistributedSettings(Section):
    """``monitor worker`` and the dispatcher ``monitor run`` becomes on PostgreSQL."""

    concurrency: int = Field(8, gt=0, description="Checks one monitor worker runs at once "
                             "(monitor worker --concurrency).")
    heartbeat: Duration = Field(
        timedelta(seconds=10), description="How often a worker tells the database it is alive.")
    stalled_after: Duration = Field(
        timedelta(seconds=60), description="A worker silent this long is gone: the dispatcher "
        "hands its checks to another worker.")

    @model_validator(mode="after")
    def _beats_before_stalling(self) -> DistributedSettings:
        if self.stalled_after < self.heartbeat * 2:
            raise ValueError(f"stalled_after ({format_duration(self.stalled_after)}) must be at "
                             f"least twice heartbeat ({format_duration(self.heartbeat)}), or live "
                             "workers would be taken for gone")
        return self


class Settings(BaseSettings):
    """The one settings object. ``home`` is where the database and archive live."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(Path("."), description="MONITOR_HOME: holds config/ and archive/.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite in archive/monitor.db."
    )
    config: Path | None = Field(
        None, description="Sources file; default config/sources.toml under home."
    )
    fetch: FetchSettings = Field(default_factory=FetchSettings)  # type: ignore[arg-type]
    identity: IdentitySettings = Field(default_factory=IdentitySettings)  # type: ignore[arg-type]
    health: HealthSettings = Field(default_factory=HealthSettings)  # type: ignore[arg-type]
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)  # type: ignore[arg-type]
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)  # type: ignore[arg-type]
    extract: ExtractSettings = Field(default_factory=ExtractSettings)  # type: ignore[arg-type]
    compare: CompareSettings = Field(default_factory=CompareSettings)  # type: ignore[arg-type]
    public: PublicSettings = Field(default_factory=PublicSettings)  # type: ignore[arg-type]
    web: WebSettings = Field(default_factory=WebSettings)  # type: ignore[arg-type]
    notify: NotifySettings = Field(default_factory=NotifySettings)  # type: ignore[arg-type]
    distributed: DistributedSettings = Field(default_factory=DistributedSettings)  # type: ignore[arg-type]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_layer = InitSettingsSource(settings_cls, init_kwargs=_FILE_LAYER.get({}))
        return (init_settings, env_settings, file_layer)

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def warc_dir(self) -> Path:
        return self.archive_dir / "warc"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.archive_dir / 'monitor.db'}"


_FILE_LAYER: ContextVar[dict[str, Any]] = ContextVar("settings_file_layer")


def build_settings(flags: dict[str, Any], file_settings: dict[str, Any]) -> Settings:
    """Settings from command-line ``flags`` over the environment over ``file_settings``."""
    token = _FILE_LAYER.set(file_settings)
    try:
        return Settings(**flags)
    finally:
        _FILE_LAYER.reset(token)


def resolve_home(flag: Path | None, environ: dict[str, str]) -> Path:
    """MONITOR_HOME before anything else is read: the flag, the variable, or the current dir."""
    if flag is not None:
        return flag
    return Path(environ.get("MONITOR_HOME", "."))


def describe(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, description) for every setting: the README table and ``monitor settings``."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            rows.extend(describe(annotation, f"{prefix}{name}."))
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, timedelta):
            shown = format_duration(default)
        else:
            shown = str(default) if isinstance(default, Path) else repr(default)
        rows.append((f"{prefix}{name}", shown, field.description or ""))
    return rows
