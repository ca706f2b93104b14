"""The database schema is created and upgraded by the program itself."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from monitor.store import open_engine, session
from monitor.store.models import Source
from monitor.store.sources import claim, release_orphaned


def test_an_older_database_gets_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = open_engine(f"sqlite:///{path}")
    engine.dispose()
    with sqlite3.connect(path) as db:  # simulate a database from before these columns (and Alembic)
        db.execute("DROP TABLE alembic_version")
        db.execute("ALTER TABLE source DROP COLUMN last_result")
        db.execute("ALTER TABLE source DROP COLUMN muted_kinds")
        db.execute("INSERT INTO source (url, given_url, tags, origin, paused, created_at, health,"
                   " consecutive_failures, evidence, previous_urls, version_count) VALUES "
                   "('https://a.example/x', '', '[]', 'cli', 0, '2025-01-14 00:00:00', 'alive', 0,"
                   " '{}', '[]', 0)")
    engine = open_engine(f"sqlite:///{path}")
    with session(engine) as db:
        [source] = db.exec(select(Source)).all()
        assert source.url == "https://a.example/x" and source.last_result is None
        assert source.muted_kinds == []
        source.last_result = "ok (200)"
        db.commit()
    engine.dispose()


def test_leases_of_a_killed_process_are_freed_and_others_kept(tmp_path: Path) -> None:
    """A kill -9 mid-pass leaves its sources leased; the next start frees them (and only them)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'leases.db'}")
    host, now = socket.gethostname(), datetime.now(UTC)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        owners = {"killed": f"{host}:{gone.stdout.strip()}", "running": f"{host}:{alive.pid}",
                  "elsewhere": f"other-{host}:{os.getpid()}", "earlier-me": f"{host}:{os.getpid()}"}
        with session(engine) as db:
            for name, owner in owners.items():
                db.add(Source(url=f"https://a.example/{name}", created_at=now,
                              lease_until=now + timedelta(minutes=10), lease_owner=owner))
            db.commit()
            assert release_orphaned(db) == 2
            leased = {s.url.rsplit("/", 1)[1] for s in db.exec(select(Source)).all() if s.lease_until}
            assert leased == {"running", "elsewhere"}
            names = {s.id: s.url.rsplit("/", 1)[1] for s in db.exec(select(Source)).all()}
            won = claim(db, [i for i in names if i is not None], now, timedelta(minutes=1))
            assert {names[i] for i in won} == {"killed", "earlier-me"}  # the freed ones can be checked
        alive.kill()
    engine.dispose()
