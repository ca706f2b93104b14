"""The database schema is created and upgraded by the program itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlmodel import select

from monitor.store import open_engine, session
from monitor.store.models import Source


def test_an_older_database_gets_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = open_engine(f"sqlite:///{path}")
    engine.dispose()
    with sqlite3.connect(path) as db:  # simulate a database from before `last_result` existed
        db.execute("ALTER TABLE source DROP COLUMN last_result")
        db.execute("INSERT INTO source (url, given_url, tags, origin, paused, created_at, health,"
                   " consecutive_failures, evidence, previous_urls, version_count) VALUES "
                   "('https://a.example/x', '', '[]', 'cli', 0, '2025-01-14 00:00:00', 'alive', 0,"
                   " '{}', '[]', 0)")
    engine = open_engine(f"sqlite:///{path}")
    with session(engine) as db:
        [source] = db.exec(select(Source)).all()
        assert source.url == "https://a.example/x" and source.last_result is None
        source.last_result = "ok (200)"
        db.commit()
    engine.dispose()
