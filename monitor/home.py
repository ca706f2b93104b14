"""A monitor home (``MONITOR_HOME``): its settings, its sources file, its database and archive.

Opening a home loads configuration once into typed objects; the CLI, the daemon
and the tests all start here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from monitor.clock import Clock, SystemClock
from monitor.config import SourcesFile, load_settings, read_sources_file
from monitor.settings import Settings, resolve_home
from monitor.store import open_engine, session
from monitor.store.models import Capture
from monitor.store.sources import SyncReport, sync_config

# the archive, fetcher and extractor are imported where they are made: the commands that
# only read the database do not load warcio, httpx or the check pipeline
if TYPE_CHECKING:
    from monitor.archive.storage import ObjectStore
    from monitor.archive.warc import WarcArchive
    from monitor.check import CheckContext
    from monitor.shards import ShardPool


@dataclass
class Home:
    settings: Settings
    sources_file: SourcesFile
    engine: Engine

    def sync_sources(self, clock: Clock) -> SyncReport | None:
        """Bring config/sources.toml into the database (None when there is no file)."""
        if not self.sources_file.exists:
            return None
        with session(self.engine) as db:
            return sync_config(db, self.sources_file.sources, clock.now())

    def object_store(self) -> ObjectStore | None:
        """The object storage WARC files go to (``archive.url``), or None: local disk only."""
        settings = self.settings.archive
        if not settings.url:
            return None
        from monitor.archive.storage import ObjectStore

        return ObjectStore(settings.url, self.settings.warc_dir, endpoint_url=settings.endpoint_url)

    def open_archive(self, *, writing: bool = False) -> WarcArchive:
        """The archive; ``writing`` also uploads closed files to object storage from a thread."""
        from monitor.archive.warc import WarcArchive

        store, age = self.object_store(), self.settings.archive.upload_after.total_seconds()
        archive = WarcArchive(
            self.settings.warc_dir,
            max_file_bytes=self.settings.archive.max_file_bytes,
            fsync=self.settings.archive.fsync,
            gzip=(self.settings.archive.gzip_engine, self.settings.archive.gzip_level),
            software=self.settings.identity.user_agent(),
            storage=store,
            max_file_age=age if store else None,
        )
        if store is not None and writing:
            store.start(age, tick=archive.rotate_if_old)
        return archive

    def recover_archive(self, archive: WarcArchive) -> list[str]:
        """Cut torn records left by a crash, skipping what the database already vouches for."""
        end = func.max(col(Capture.warc_offset) + col(Capture.warc_length))
        with session(self.engine) as db:
            rows = db.exec(
                select(Capture.warc_file, end).where(col(Capture.warc_file).is_not(None))
                .group_by(col(Capture.warc_file))
            ).all()
        ends = {str(name): int(end or 0) for name, end in rows if name}
        return archive.recover(ends)

    @asynccontextmanager
    async def check_context(
        self, clock: Clock | None = None, *, shards: ShardPool | None = None, **overrides: Any
    ) -> AsyncIterator[CheckContext]:
        """Open archive, HTTP client and extractor for checks; close them after. ``shards``:
        the shard workers to split big passes over (default: ``schedule.shards`` of them)."""
        from monitor.check import CheckContext
        from monitor.extract import Extractor
        from monitor.fetch import Fetcher
        from monitor.shards import ShardPool

        if shards is None and clock is None and "fetcher" not in overrides:
            # shard workers make their own clients and clock: not for a context given its own
            shards = ShardPool.for_settings(self.settings)
        clock = clock or SystemClock()
        archive = overrides.pop("archive", None) or self.open_archive(writing=True)
        fetcher = overrides.pop("fetcher", None) or Fetcher(
            self.settings.fetch, self.settings.identity.user_agent(), clock
        )
        extractor = overrides.pop("extractor", None) or Extractor(self.settings.extract.workers)
        try:
            yield CheckContext(self.settings, self.engine, archive, fetcher, extractor, clock,
                               shards=shards, **overrides)
        finally:
            if shards is not None:
                shards.close()
            await fetcher.aclose()
            extractor.close()
            archive.close()


def open_home(home: Path | None = None, flags: dict[str, Any] | None = None,
              environ: dict[str, str] | None = None, *, migrate: bool = True) -> Home:
    """Open the home named by ``home``, ``MONITOR_HOME`` or the current directory; its database
    is upgraded to this program's schema unless ``migrate`` is False (``monitor db``)."""
    environ = dict(os.environ) if environ is None else environ
    root = resolve_home(home, environ).resolve()
    flags = {**(flags or {}), "home": root}
    config_flag = flags.get("config") or environ.get("MONITOR_CONFIG")
    path = Path(config_flag) if config_flag else root / "config" / "sources.toml"
    sources_file = read_sources_file(path)
    settings = load_settings(flags, sources_file)
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    return Home(settings, sources_file, open_engine(settings.db_url, migrate=migrate))
