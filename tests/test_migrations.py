"""The schema is Alembic's, on SQLite and PostgreSQL: fresh, adopted from before migrations,
opened by many processes at once, reported by ``monitor db``, and the whole core the same on both.

PostgreSQL tests use ``pg_url`` (tests/postgres.py): skipped without a server, required on CI.
"""

from __future__ import annotations

import multiprocessing
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text
from sqlmodel import SQLModel, col, select

from monitor.clock import ManualClock
from monitor.home import Home, open_home
from monitor.store import migrations, open_engine, session
from monitor.store.models import Capture, Event, Source, Version
from monitor.web import views
from tests.conftest import PARAGRAPHS, add_sources, one_pass, publish, run_cli
from tests.site import NewsSite

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'monitor.db'}"


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match models.py ([]: they agree)."""
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.upgrade(migrations.alembic_config(connection), revision)


# --- the schema ----------------------------------------------------------------------------

def test_a_fresh_database_at_head_is_exactly_the_models(db_url: str) -> None:
    """Fails when models.py changes without a revision (or a revision without models.py)."""
    engine = open_engine(db_url)
    assert revision_of(engine) == migrations.head()
    assert differences(engine) == []
    engine.dispose()


def test_the_comparison_sees_a_column_the_migrations_lack(db_url: str) -> None:
    """The test above can fail: at the baseline, the fast path's column is reported missing."""
    engine = open_engine(db_url, migrate=False)
    upgrade_to(engine, migrations.BASELINE_REVISION)
    found = [(d[0], d[2], d[3].name) for d in differences(engine)]
    assert found == [("add_column", "source", "extract_input_digest")]
    engine.dispose()


def test_opening_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    open_engine(url).dispose()
    engine = open_engine(url)
    assert migrations.upgrade(engine) == migrations.Upgraded(migrations.head(), migrations.head(),
                                                             adopted=False, applied=[])
    engine.dispose()


def test_the_head_read_without_alembic_is_alembics_or_none(tmp_path: Path) -> None:
    """Opening a database at head reads the head from versions/ without importing Alembic: the
    one Alembic finds, and none (Alembic decides) when the files are not one plain chain."""
    assert migrations._chain_head() == migrations.head()

    def head_of(*bodies: str) -> str | None:
        folder = tmp_path / f"versions{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        (folder / "__init__.py").write_text('revision = "not a revision"\n')
        for number, body in enumerate(bodies):
            (folder / f"{number:04d}_step.py").write_text(body)
        return migrations._chain_head(folder)

    first, second = 'revision = "a"\ndown_revision = None\n', 'revision = "b"\ndown_revision = "a"\n'
    assert head_of(first, second) == "b"
    assert head_of(first, second, 'revision = "c"\ndown_revision = "a"\n') is None  # two heads
    assert head_of(first, 'revision = "b"\ndown_revision = ("a",)\n') is None  # a merge
    assert head_of(first, second + 'branch_labels = ("x",)\n') is None
    assert head_of(first, second + 'if True:\n    revision = "c"\n') is None
    assert head_of(first, 'revision = "b" + ""\ndown_revision = "a"\n') is None
    assert head_of(first, 'revision = "b"\ndown_revision = "c"\n',
                   'revision = "c"\ndown_revision = "b"\n') is None  # a loop beside the chain


# --- databases made before migrations ---------------------------------------------------------

def _made_by_old_code(url: str, now: datetime) -> None:
    """A database as the code released with issue 6 left it: the baseline tables with rows,
    no alembic_version, and (made long ago) without two columns and an index added later."""
    engine = open_engine(url, migrate=False)
    upgrade_to(engine, migrations.BASELINE_REVISION)
    with engine.begin() as db:
        db.execute(text("INSERT INTO source (url, given_url, tags, origin, paused, muted_kinds,"
                        " created_at, health, consecutive_failures, evidence, previous_urls,"
                        " version_count, last_result) VALUES ('https://a.example/x', 'a.example/x',"
                        " '[\"cited\"]', 'cli', FALSE, '[]', :now, 'alive', 0, '{}', '[]', 1,"
                        " 'ok (200)')"), {"now": now.replace(tzinfo=None)})
        db.execute(text("INSERT INTO version (source_id, number, fingerprint, title, text,"
                        " first_seen, last_seen, seen_count) VALUES (1, 1, 'f1', 'What is RedNote?',"
                        " 'RedNote text.', :now, :now, 3)"), {"now": now.replace(tzinfo=None)})
        db.execute(text("INSERT INTO event (id, at, kind, severity, source_id, summary, details)"
                        " VALUES ('e1', :now, 'archived', 'info', 1, 'first copy', '{}')"),
                   {"now": now.replace(tzinfo=None)})
        db.execute(text("DROP TABLE alembic_version"))
        db.execute(text("DROP INDEX ix_event_notify_state"))
        db.execute(text("ALTER TABLE event DROP COLUMN notify_state"))
        db.execute(text("ALTER TABLE source DROP COLUMN consecutive_failures"))
    engine.dispose()


def test_a_database_from_before_migrations_is_adopted_and_keeps_its_rows(db_url: str) -> None:
    now = datetime(2025, 1, 14, 9, 0, tzinfo=UTC)
    _made_by_old_code(db_url, now)
    engine = open_engine(db_url, migrate=False)
    found = migrations.status(engine)
    assert (found.current, found.pre_alembic, found.pending) == (None, True, ["0001", "0002"])
    done = migrations.upgrade(engine)
    assert (done.before, done.after, done.adopted) == (None, migrations.head(), True)
    assert differences(engine) == []
    with session(engine) as db:
        [source] = db.exec(select(Source)).all()
        assert (source.url, source.tags, source.health, source.last_result) == (
            "https://a.example/x", ["cited"], "alive", "ok (200)")
        assert source.consecutive_failures == 0 and source.extract_input_digest is None
        [version] = db.exec(select(Version)).all()
        assert (version.title, version.text, version.seen_count, version.first_seen) == (
            "What is RedNote?", "RedNote text.", 3, now)
        [event] = db.exec(select(Event)).all()
        assert (event.id, event.summary, event.notify_state) == ("e1", "first copy", None)
    engine.dispose()


def test_a_database_of_the_groundwork_code_keeps_its_fast_path_column(tmp_path: Path) -> None:
    """The pre-Alembic code of the issue-7 groundwork already added source.extract_input_digest."""
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    with engine.begin() as db:
        db.execute(text("INSERT INTO source (url, given_url, tags, origin, paused, muted_kinds,"
                        " created_at, health, consecutive_failures, evidence, previous_urls,"
                        " version_count, extract_input_digest) VALUES ('https://a.example/x', '',"
                        " '[]', 'cli', 0, '[]', '2025-01-14 09:00:00', 'alive', 0, '{}', '[]', 0,"
                        " 'sha1:KEEP')"))
    engine.dispose()
    engine = open_engine(url)
    assert revision_of(engine) == migrations.head() and differences(engine) == []
    with session(engine) as db:
        assert [s.extract_input_digest for s in db.exec(select(Source)).all()] == ["sha1:KEEP"]
    engine.dispose()


# --- many processes at once --------------------------------------------------------------------

def _open_when_told(url: str, ready: Any, go: Any, results: Any) -> None:
    ready.wait()  # every process has imported the program
    go.wait()
    try:
        engine = open_engine(url)
        results.put(("ok", migrations.upgrade(engine).before, revision_of(engine)))
        engine.dispose()
    except Exception as exc:  # reported to the test, which shows it
        results.put(("error", repr(exc), None))


@pytest.mark.parametrize("processes", [4])
def test_processes_opening_a_fresh_database_together_all_succeed(db_url: str, processes: int) -> None:
    """Workers starting together: one migrates, the others wait for it and find the work done."""
    spawn = multiprocessing.get_context("spawn")
    ready, go, results = spawn.Barrier(processes + 1), spawn.Event(), spawn.Queue()
    workers = [spawn.Process(target=_open_when_told, args=(db_url, ready, go, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    ready.wait(timeout=60)
    go.set()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [o for o in outcomes if o[0] != "ok"] == []
    assert {o[2] for o in outcomes} == {migrations.head()}
    engine = open_engine(db_url, migrate=False)
    assert revision_of(engine) == migrations.head() and differences(engine) == []
    engine.dispose()


# --- monitor db ---------------------------------------------------------------------------------

def test_monitor_db_status_and_upgrade(db_url: str, tmp_path: Path) -> None:
    env = {"MONITOR_DATABASE_URL": db_url}
    home = tmp_path / "home"
    home.mkdir()
    _made_by_old_code(db_url, datetime(2025, 1, 14, 9, 0, tzinfo=UTC))
    shown = run_cli(home, "db", "status", env=env)
    assert shown.code == 0, shown.err
    assert re.search(r"^current +none: made before migrations", shown.out, re.MULTILINE)
    assert re.search(r"^pending +0001 \(baseline.*\n +0002 \(source\.extract_input_digest", shown.out,
                     re.MULTILINE)
    upgraded = run_cli(home, "db", "upgrade", env=env)
    assert upgraded.code == 0, upgraded.err
    assert "upgraded from a database made before migrations (adopted at 0001) to 0002" in upgraded.out
    assert re.findall(r"applied (\d+)", upgraded.out) == ["0002"]
    again = run_cli(home, "db", "upgrade", env=env)
    assert "already at 0002 (head), nothing to do" in again.out
    shown = run_cli(home, "db", "status", env=env)
    assert re.search(r"^current +0002 .*\n^head +0002 .*\n^pending +none: up to date", shown.out,
                     re.MULTILINE)


def test_a_database_from_a_newer_monitor_is_refused_in_one_line(db_url: str, tmp_path: Path) -> None:
    engine = open_engine(db_url)
    with engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        db.execute(text("INSERT INTO source (url, given_url, tags, origin, paused, muted_kinds,"
                        " created_at, health, consecutive_failures, evidence, previous_urls,"
                        " version_count) VALUES ('https://a.example/x', '', '[]', 'cli', FALSE,"
                        " '[]', '2025-01-14 09:00:00', 'alive', 0, '{}', '[]', 0)"))
    engine.dispose()
    home = tmp_path / "home"
    home.mkdir()
    for args in (["db", "status"], ["db", "upgrade"], ["status"]):
        result = run_cli(home, *args, env={"MONITOR_DATABASE_URL": db_url})
        assert result.code == 2, (args, result.out, result.err)
        assert "schema revision '0999', which this version of monitor does not know" in result.err
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    engine = open_engine(db_url, migrate=False)
    with engine.connect() as db:  # nothing was touched
        assert db.execute(text("SELECT url FROM source")).scalars().all() == ["https://a.example/x"]
    assert revision_of(engine) == "0999"
    engine.dispose()


# --- the core on both databases -------------------------------------------------------------

Snapshot = dict[str, Any]


def _story(home: Home, clock: ManualClock, site: NewsSite) -> Snapshot:
    """Watch three articles over a week: an edit, a removal, a move; then what the store and the
    dashboard's queries hold, with the site's address taken out (each run has its own ports)."""
    edited, removed = publish(site, "apnews", "rednote"), publish(site, "cnn", "gone")
    static, moved = publish(site, "reuters", "static"), publish(site, "apnews", "old-slug")
    ids = add_sources(home, clock, edited, removed, static, moved)
    one_pass(home, clock, ids)
    site.edit(edited, paragraphs=[PARAGRAPHS[0].replace("300 million", "350 million"),
                                  *PARAGRAPHS[1:]], modified=clock.now())
    site.set_status(removed, 410)
    site.redirect(moved, publish(site, "apnews", "new-slug"), code=301)
    for _ in range(4):
        one_pass(home, clock, ids, advance=timedelta(days=1))
    site.edit(edited, headline="RedNote, explained", modified=clock.now())
    one_pass(home, clock, ids)
    bases = {site.base_url(outlet): f"<{outlet}>" for outlet in site.outlets}
    return _without(bases, _snapshot(home))


def _snapshot(home: Home) -> Snapshot:
    with session(home.engine) as db:
        sources = db.exec(select(Source).order_by(col(Source.id))).all()
        rows, total = views.source_rows(db)
        troubled, _ = views.source_rows(db, "troubled", query="GONE")
        number = {v.id: v.number for v in db.exec(select(Version)).all()}  # ids follow no fixed order
        return {
            "sources": [(s.url, s.previous_urls, s.health, s.last_result, s.version_count,
                         s.consecutive_failures, s.evidence, s.last_check_at)  # next: jittered
                        for s in sources],
            "versions": [(v.source_id, v.number, v.title, v.text, v.fingerprint, v.first_seen,
                          v.last_seen, v.seen_count)
                         for v in db.exec(select(Version).order_by(col(Version.source_id),
                                                                   col(Version.number))).all()],
            # checks of a pass run concurrently: ids follow no fixed order, so neither do these
            "events": sorted((e.at, e.source_id or 0, e.kind, e.severity, e.url, e.summary,
                              repr({k: v for k, v in e.details.items() if not k.endswith("_id")}),
                              number.get(e.version_before), number.get(e.version_after),
                              e.notify_state)
                             for e in views.events(db, limit=1000)),
            "captures": sorted((c.source_id, c.at, c.url, c.final_url, c.status, c.record_type,
                                c.outcome) for c in db.exec(select(Capture))),
            "dashboard": (total, [(r.state, r.alerts, r.ticks) for r in rows],
                          [r.source.url for r in troubled], views.alert_counts(db)),
        }


def _without(bases: dict[str, str], value: Any) -> Any:
    """``value`` with every site address replaced by the outlet's name (recursively)."""
    if isinstance(value, str):
        for base, name in bases.items():
            value = value.replace(base, name)
        return value
    if isinstance(value, list | tuple):
        return type(value)(_without(bases, v) for v in value)
    if isinstance(value, dict):
        return {k: _without(bases, v) for k, v in value.items()}
    return value


def _run_story(home_dir: Path, monkeypatch: pytest.MonkeyPatch, url: str | None) -> Snapshot:
    with monkeypatch.context() as patch:
        if url:
            patch.setenv("MONITOR_DATABASE_URL", url)
        home = open_home(home_dir)
    try:
        with NewsSite(outlets=["apnews", "cnn", "reuters"], static_outlets=["reuters"]) as site:
            return _story(home, ManualClock(datetime(2025, 1, 15, 12, 0, tzinfo=UTC)), site)
    finally:
        home.engine.dispose()


@pytest.mark.postgres
def test_the_core_on_postgresql_does_what_it_does_on_sqlite(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs: dict[str, Snapshot] = {}
    for name, url in (("sqlite", None), ("postgres", pg_url)):
        (tmp_path / name).mkdir()
        runs[name] = _run_story(tmp_path / name, monkeypatch, url)
    sqlite, postgres = runs["sqlite"], runs["postgres"]
    kinds = [e[2] for e in sqlite["events"]]
    assert {"archived", "changed", "moved", "failing", "dead"} <= set(kinds), kinds
    [troubled] = sqlite["dashboard"][2]
    assert troubled.startswith("<cnn>") and "gone" in troubled
    for part in sqlite:
        assert len(postgres[part]) == len(sqlite[part]), part
        for on_sqlite, on_postgres in zip(sqlite[part], postgres[part], strict=True):
            assert on_postgres == on_sqlite, part

