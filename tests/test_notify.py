"""Notifications through Apprise: batched per pass, told once, retried until delivered, and never
in the way of a check.

Messages go to a local receiver (tests/notify_receiver.py) through Apprise's ``json://`` URLs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import col, select

from monitor.clock import ManualClock
from monitor.events import new_event
from monitor.home import Home, open_home
from monitor.notify.message import MAX_LINES, render
from monitor.notify.outbox import queue_new_events
from monitor.notify.send import deliver_due
from monitor.notify.step import targets_of
from monitor.schedule import dispatch_due
from monitor.settings import NotifySettings
from monitor.store import open_engine, session
from monitor.store.models import Event, Notification, Source
from tests.conftest import add_sources, checking, events_of, one_pass, publish, run_cli
from tests.notify_receiver import Receiver
from tests.site import NewsSite

CORRECTION = "Correction: an earlier version of this article misstated the number of new users."
PASSWORD = "hunter2-s3cret"

OpenHome = Callable[..., Home]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


@pytest.fixture
def open_with(home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenHome]:
    """Open the test home with notify settings (``urls=[…]``, ``kinds=[…]``, ``max_age="…"``);
    none given: notifications off. Every home opened is closed at the end."""
    opened: list[Home] = []

    def open_(**notify: object) -> Home:
        for key in ("URLS", "KINDS", "DASHBOARD_URL", "MAX_AGE"):
            monkeypatch.delenv(f"MONITOR_NOTIFY__{key}", raising=False)
        for key, value in notify.items():
            encoded = json.dumps(value) if isinstance(value, list) else str(value)
            monkeypatch.setenv(f"MONITOR_NOTIFY__{key.upper()}", encoded)
        opened.append(open_home(home_dir))
        return opened[-1]

    yield open_
    for home in opened:
        home.engine.dispose()


@pytest.fixture
def notify_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """The monitor's log lines (its logger does not propagate once the CLI set it up)."""
    monkeypatch.setattr(logging.getLogger("monitor"), "propagate", True)
    caplog.set_level(logging.INFO, logger="monitor")
    return caplog


def notify_states(home: Home) -> list[tuple[str, int | None, str | None]]:
    """(kind, source id, notify_state) of every event, in time order."""
    with session(home.engine) as db:
        rows = db.exec(select(Event.kind, Event.source_id, Event.notify_state)
                       .order_by(col(Event.at), col(Event.source_id))).all()
    return [tuple(row) for row in rows]


def messages(home: Home) -> list[Notification]:
    with session(home.engine) as db:
        return list(db.exec(select(Notification).order_by(col(Notification.id))).all())


def edit_all(site: NewsSite, urls: list[str]) -> None:
    for url in urls:
        site.edit(url, append=CORRECTION)


def set_source(home: Home, source_id: int, **fields: object) -> None:
    with session(home.engine) as db:
        source = db.get(Source, source_id)
        assert source is not None
        for name, value in fields.items():
            setattr(source, name, value)
        db.commit()


def ack(home: Home, event_id: str, clock: ManualClock) -> None:
    with session(home.engine) as db:
        event = db.get(Event, event_id)
        assert event is not None
        event.acked_at = clock.now()
        db.commit()


# --- batching and telling once --------------------------------------------------------------


def test_changes_in_one_pass_are_one_message_listing_every_source(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url()], dashboard_url="http://127.0.0.1:8765/")
    urls = [publish(site, outlet, f"rednote-batch-{outlet}") for outlet in site.outlets]
    ids = add_sources(home, clock, *urls)
    set_source(home, ids[0], title="What is RedNote? [explainer]")

    summary = one_pass(home, clock, ids)
    assert receiver.received == []  # "archived" is not among the default kinds
    assert [state for _, _, state in notify_states(home)] == ["skipped-kind"] * 3
    assert "notifications" not in summary.line()

    edit_all(site, urls)
    summary = one_pass(home, clock, ids)
    [message] = receiver.received
    assert (message.title, message.type) == ("3 sources changed", "info")
    assert len(message.lines) == 3
    first, *others = message.lines  # by source; the others took the article's title
    assert first.startswith(r"- **What is RedNote? \[explainer\]**: correction appended: ")
    assert first.endswith(f" — <http://127.0.0.1:8765/sources/{ids[0]}>")
    for source_id, line in zip(ids[1:], others, strict=True):
        assert line.startswith("- **What is RedNote?**: correction appended: ")
        assert line.endswith(f" — <http://127.0.0.1:8765/sources/{source_id}>")
    changed = events_of(home, "changed")
    assert "notifications: 1 sent" in summary.line()
    [row] = messages(home)
    assert (row.status, row.kind, row.attempts, sorted(row.event_ids)) == (
        "sent", "changed", 1, sorted(e.id for e in changed))

    one_pass(home, clock, ids)  # nothing new: nothing sent
    one_pass(home, clock, ids)
    assert len(receiver.received) == 1 and len(messages(home)) == 1


def test_kinds_not_chosen_are_not_sent(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url()], kinds=["dead", "archived"])
    url = publish(site, "apnews", "rednote-kinds")
    ids = add_sources(home, clock, url)
    one_pass(home, clock, ids)
    site.edit(url, append=CORRECTION)
    one_pass(home, clock, ids)
    assert [m.title for m in receiver.received] == ["1 source archived"]
    assert notify_states(home) == [("archived", ids[0], "queued"), ("changed", ids[0], "skipped-kind")]


def test_a_health_state_is_told_once_until_it_changes(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url()])
    url = publish(site, "apnews", "rednote-wall")
    ids = add_sources(home, clock, url)
    one_pass(home, clock, ids)
    site.block(url)
    one_pass(home, clock, ids)  # told: blocked
    set_source(home, ids[0], muted_kinds=["recovered"])
    site.restore(url)
    one_pass(home, clock, ids)  # recovered, muted: not told
    site.block(url)
    one_pass(home, clock, ids)  # blocked again: the user's last word is still "blocked"
    set_source(home, ids[0], muted_kinds=[])
    site.restore(url)
    one_pass(home, clock, ids)  # recovered: told
    assert [m.title for m in receiver.received] == ["1 source is blocked", "1 source recovered"]
    assert [m.type for m in receiver.received] == ["warning", "success"]
    assert [(kind, state) for kind, _, state in notify_states(home)] == [
        ("archived", "skipped-kind"), ("blocked", "queued"), ("recovered", "skipped-muted"),
        ("blocked", "skipped-repeat"), ("recovered", "queued")]


def test_a_message_names_sources_by_title_or_url_escaped_and_is_cut_when_long(clock: ManualClock) -> None:
    sources = {1: Source(id=1, url="https://a.example/x", created_at=clock.now()),
               2: Source(id=2, url="https://b.example/y", title="*Bold* [claim]_", created_at=clock.now())}
    events = [new_event("dead", clock.now(), "gone: 404 <since> 3 days", source=s) for s in sources.values()]
    title, body = render("dead", events, sources, None)
    assert title == "2 sources are dead"
    assert body.splitlines() == ["- <https://a.example/x>: gone: 404 \\<since\\> 3 days",
                                 "- **\\*Bold\\* \\[claim\\]\\_**: gone: 404 \\<since\\> 3 days"]
    many = {n: Source(id=n, url=f"https://c.example/{n}", created_at=clock.now()) for n in range(1, 61)}
    title, body = render("changed", [new_event("changed", clock.now(), "edited", source=s)
                                     for s in many.values()], many, "http://dash.example")
    lines = body.splitlines()
    assert title == "60 sources changed" and len(lines) == MAX_LINES + 1
    assert lines[0] == "- <https://c.example/1>: edited — <http://dash.example/sources/1>"
    assert lines[-1] == "- … and 10 more: `monitor events --kind changed`"


def test_an_offline_pass_queues_but_sends_once_the_network_is_back(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url()], kinds=["offline", "online"])
    ids = add_sources(home, clock, *(publish(site, o, f"rednote-net-{o}") for o in site.outlets))
    one_pass(home, clock, ids)
    site.outage(True)
    summary = one_pass(home, clock, ids)
    assert summary.offline and receiver.received == []
    assert [(m.kind, m.status) for m in messages(home)] == [("offline", "pending")]
    site.outage(False)
    one_pass(home, clock, ids)
    assert [(m.title, m.type) for m in receiver.received] == [
        ("the monitor is offline", "warning"), ("the monitor is online again", "success")]


# --- failures and retries -------------------------------------------------------------------


def test_a_failing_notifier_never_breaks_a_check_and_is_retried_until_delivered_once(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock,
    notify_log: pytest.LogCaptureFixture,
) -> None:
    home = open_with(urls=[receiver.url(userinfo=f"desk:{PASSWORD}")], kinds=["archived"])
    url = publish(site, "apnews", "rednote-retry")
    ids = add_sources(home, clock, url)
    receiver.fail()

    summary = one_pass(home, clock, ids)
    assert (summary.checked, summary.errors) == (1, 0)
    assert [e.kind for e in events_of(home)] == ["archived"]  # the check is committed
    assert "notifications: 1 failed" in summary.line()
    [row] = messages(home)
    label = f"json://desk:****@127.0.0.1:{receiver.port}/hook"
    assert (row.status, row.attempts, row.target) == ("failed", 1, label)
    assert "error=500" in (row.last_error or "")
    assert row.next_attempt_at == clock.now() + timedelta(minutes=5)  # notify.retry_backoff
    [warning] = [r.getMessage() for r in notify_log.records if r.name == "monitor.notify"]
    assert f"to {label} failed (attempt 1)" in warning and "error=500" in warning
    listing = run_cli(home.settings.home, "notify")
    assert "failed" in listing.out and "1 source archived" in listing.out

    one_pass(home, clock, ids, advance=timedelta(minutes=2))  # before the back-off: not retried
    assert len(receiver.received) == 1

    receiver.heal()
    summary = one_pass(home, clock, ids, advance=timedelta(minutes=4))
    assert "notifications: 1 sent" in summary.line()
    [row] = messages(home)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("sent", 2, None, clock.now())
    for _ in range(3):
        one_pass(home, clock, ids, advance=timedelta(hours=1))
    [delivered] = receiver.delivered
    assert delivered.title == "1 source archived" and delivered.authorization is not None
    assert "No messages waiting" in run_cli(home.settings.home, "notify").out
    stored = json.dumps([m.model_dump(mode="json") for m in messages(home)])
    everything = notify_log.text + listing.out + stored
    assert PASSWORD not in everything


def test_a_failing_notifier_holds_its_later_messages_and_does_not_delay_the_others(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url("ok"), receiver.url("broken")], kinds=["archived", "changed"])
    url = publish(site, "apnews", "rednote-hold")
    ids = add_sources(home, clock, url)
    receiver.fail("broken")
    one_pass(home, clock, ids)
    site.edit(url, append=CORRECTION)
    one_pass(home, clock, ids, advance=timedelta(minutes=1))
    assert [m.title for m in receiver.delivered] == ["1 source archived", "1 source changed"]

    one_pass(home, clock, ids, advance=timedelta(minutes=10))  # both due: the first fails again
    broken = [m for m in messages(home) if m.target.endswith("/broken")]
    assert [(m.title, m.status, m.attempts) for m in broken] == [
        ("1 source archived", "failed", 2), ("1 source changed", "failed", 1)]
    assert broken[1].last_error == "waiting: an earlier message to this notifier failed"
    assert broken[1].next_attempt_at == broken[0].next_attempt_at == clock.now() + timedelta(minutes=10)
    assert len([m for m in receiver.received if m.path == "/broken"]) == 3  # the held one: not tried

    receiver.heal()
    one_pass(home, clock, ids, advance=timedelta(minutes=10))
    assert [(m.path, m.title) for m in receiver.delivered] == [
        ("/ok", "1 source archived"), ("/ok", "1 source changed"),
        ("/broken", "1 source archived"), ("/broken", "1 source changed")]


def test_back_off_doubles_then_gives_up(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONITOR_NOTIFY__MAX_ATTEMPTS", "3")
    home = open_with(urls=[receiver.url()], kinds=["archived"])
    ids = add_sources(home, clock, publish(site, "apnews", "rednote-give-up"))
    receiver.fail()
    one_pass(home, clock, ids)
    waits = []
    for _ in range(2):
        [row] = messages(home)
        assert row.next_attempt_at is not None
        waits.append(row.next_attempt_at - clock.now())
        clock.set(row.next_attempt_at)
        one_pass(home, clock, [], advance=timedelta(0))
    [row] = messages(home)
    assert waits == [timedelta(minutes=5), timedelta(minutes=10)]
    assert (row.status, row.attempts, row.next_attempt_at) == ("given-up", 3, None)
    one_pass(home, clock, [], advance=timedelta(days=2))
    assert len(receiver.received) == 3


def test_the_daemon_retries_on_a_tick_with_no_source_due(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url()], kinds=["archived"])
    ids = add_sources(home, clock, publish(site, "apnews", "rednote-tick"))
    receiver.fail()
    one_pass(home, clock, ids)
    receiver.heal()
    clock.advance(timedelta(minutes=6))  # the back-off is over; the source is due in hours

    async def tick() -> object:
        async with checking(home, clock) as ctx:
            return await dispatch_due(ctx)

    assert asyncio.run(tick()) is None  # no pass ran
    assert [m.title for m in receiver.delivered] == ["1 source archived"]
    assert [m.status for m in messages(home)] == ["sent"]


# --- what is not told -----------------------------------------------------------------------


def test_muted_and_acknowledged_events_are_not_sent(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url()], dashboard_url="http://127.0.0.1:8765")
    urls = [publish(site, outlet, f"rednote-quiet-{outlet}") for outlet in site.outlets]
    muted, acked, told = ids = add_sources(home, clock, *urls)
    one_pass(home, clock, ids)
    set_source(home, muted, muted_kinds=["changed"], muted_until=clock.now() + timedelta(days=7))
    edit_all(site, urls)
    receiver.fail()
    one_pass(home, clock, ids)  # queued with two lines (the muted one left out), not delivered
    [row] = messages(home)
    assert row.title == "2 sources changed" and row.status == "failed"

    by_source = {e.source_id: e for e in events_of(home, "changed")}
    ack(home, by_source[acked].id, clock)  # seen on the dashboard before the retry
    receiver.heal()
    one_pass(home, clock, ids, advance=timedelta(minutes=10))
    [message] = receiver.delivered
    assert message.title == "1 source changed"
    assert [line.endswith(f"/sources/{told}>") for line in message.lines] == [True]
    assert {(source, state) for kind, source, state in notify_states(home) if kind == "changed"} == {
        (muted, "skipped-muted"), (acked, "queued"), (told, "queued")}


def test_a_message_whose_events_were_all_acknowledged_is_dropped(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    home = open_with(urls=[receiver.url()], kinds=["archived"])
    ids = add_sources(home, clock, publish(site, "apnews", "rednote-dropped"))
    receiver.fail()
    one_pass(home, clock, ids)
    [event] = events_of(home)
    ack(home, event.id, clock)
    receiver.heal()
    one_pass(home, clock, ids, advance=timedelta(minutes=10))
    [row] = messages(home)
    assert row.status == "dropped" and row.next_attempt_at is None
    assert len(receiver.received) == 1  # only the failed attempt


def test_events_left_by_a_monitor_without_notifiers_are_sent_by_the_next_that_has_them(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    quiet = open_with()  # e.g. a `monitor check` run without the daemon's notify settings
    urls = [publish(site, outlet, f"rednote-later-{outlet}") for outlet in site.outlets[:2]]
    ids = add_sources(quiet, clock, *urls)
    one_pass(quiet, clock, ids)
    edit_all(site, urls)
    one_pass(quiet, clock, ids)
    assert {state for _, _, state in notify_states(quiet)} == {"pending"}
    [first_change] = [e for e in events_of(quiet, "changed") if e.source_id == ids[0]]
    ack(quiet, first_change.id, clock)

    home = open_with(urls=[receiver.url()], dashboard_url="http://127.0.0.1:8765")
    one_pass(home, clock, ids, advance=timedelta(minutes=1))
    [message] = receiver.received
    assert message.title == "1 source changed" and f"/sources/{ids[1]}>" in message.message
    assert [state for kind, _, state in notify_states(home) if kind == "changed"] == [
        "skipped-acked", "queued"]


def test_old_events_are_not_sent_when_notifications_are_switched_on(
    site: NewsSite, open_with: OpenHome, receiver: Receiver, clock: ManualClock
) -> None:
    before = open_with()
    url = publish(site, "apnews", "rednote-old")
    ids = add_sources(before, clock, url)
    one_pass(before, clock, ids)
    site.edit(url, append=CORRECTION)
    one_pass(before, clock, ids)
    clock.advance(timedelta(days=2))

    home = open_with(urls=[receiver.url()], kinds=["archived", "changed"], max_age="1d")
    site.edit(url, headline="RedNote, explained")
    one_pass(home, clock, ids)
    [message] = receiver.received
    assert message.title == "1 source changed" and "headline" in message.message
    assert [(kind, state) for kind, _, state in notify_states(home)] == [
        ("archived", "skipped-old"), ("changed", "skipped-old"), ("changed", "queued")]


def test_events_from_before_the_upgrade_are_never_sent(tmp_path: Path, receiver: Receiver) -> None:
    """The new column has no SQL default: rows that existed read NULL, i.e. already told."""
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    engine = open_engine(url)
    with engine.begin() as db:  # the schema as it was before notifications (and Alembic)
        db.execute(text("DROP TABLE alembic_version"))
        db.execute(text("DROP INDEX ix_event_notify_state"))
        db.execute(text("ALTER TABLE event DROP COLUMN notify_state"))
        db.execute(text("INSERT INTO event (id, at, kind, severity, summary, details) "
                        "VALUES ('before', '2025-01-15 11:00:00', 'changed', 'major', 'old news', '{}')"))
    engine.dispose()
    engine = open_engine(url)  # upgraded
    assert "ix_event_notify_state" in {ix["name"] for ix in inspect(engine).get_indexes("event")}
    clock = ManualClock()
    with session(engine) as db:
        db.add(new_event("changed", clock.now(), "new news", severity="major"))
        db.commit()
        policy = NotifySettings(urls=[receiver.url()])
        assert queue_new_events(db, policy, targets_of(policy), clock.now()) == 1
        rows = db.exec(select(Event.summary, Event.notify_state).order_by(col(Event.at))).all()
    assert [tuple(r) for r in rows] == [("old news", None), ("new news", "queued")]
    engine.dispose()


# --- processes ------------------------------------------------------------------------------


def test_a_restarted_monitor_does_not_send_again(
    site: NewsSite, home_dir: Path, receiver: Receiver
) -> None:
    url = publish(site, "apnews", "rednote-restart")
    env = {"MONITOR_NOTIFY__URLS": json.dumps([receiver.url()]),
           "MONITOR_NOTIFY__KINDS": '["archived", "changed"]'}
    assert run_cli(home_dir, "add", url).code == 0
    first = run_cli(home_dir, "check", env=env)
    assert first.code == 0 and "notifications: 1 sent" in first.out, first.err
    second = run_cli(home_dir, "check", env=env)
    assert second.code == 0 and "notifications" not in second.out
    site.edit(url, append=CORRECTION)
    third = run_cli(home_dir, "check", env=env)
    assert "notifications: 1 sent" in third.out
    assert [m.title for m in receiver.received] == ["1 source archived", "1 source changed"]


def test_two_processes_take_each_event_and_message_once(
    home: Home, receiver: Receiver, clock: ManualClock
) -> None:
    ids = add_sources(home, clock, *(f"https://news.example.org/story-{n}" for n in range(20)))
    with session(home.engine) as db:
        sources = [db.get(Source, i) for i in ids]
        db.add_all([new_event(kind, clock.now(), f"{kind} {n}", severity="major", source=source)
                    for n, source in enumerate(sources) for kind in ("dead", "changed")])
        db.commit()
    policy = NotifySettings(urls=[receiver.url("a"), receiver.url("b")],
                            kinds=["dead", "changed"])
    targets = targets_of(policy)
    engines = [open_engine(home.settings.db_url) for _ in range(2)]
    start = threading.Barrier(2)
    queued: list[int] = []

    def work(index: int) -> None:
        start.wait()
        with session(engines[index]) as db:
            queued.append(queue_new_events(db, policy, targets, clock.now()))
        start.wait()
        asyncio.run(deliver_due(engines[index], clock, policy, targets))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()
    assert sorted(queued) == [0, 4]  # two kinds to two notifiers, by one of the processes
    assert sorted((m.path, m.title) for m in receiver.received) == [
        ("/a", "20 sources are dead"), ("/a", "20 sources changed"),
        ("/b", "20 sources are dead"), ("/b", "20 sources changed")]
    rows = messages(home)
    assert [len(r.event_ids) for r in rows] == [20] * 4 and {r.status for r in rows} == {"sent"}


# --- configuration and the command ----------------------------------------------------------


def test_a_bad_notifier_url_is_one_line_naming_it_without_its_secret(home_dir: Path) -> None:
    bad = "slack://T1234ABCD/B5678EFGH/s3cret!token"
    result = run_cli(home_dir, "status", env={
        "MONITOR_NOTIFY__URLS": json.dumps(["json://127.0.0.1:9/ok", bad])})
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "notify.urls.1: 'slack://T...D/B...H/s...n' is not a usable Apprise URL" in result.err
    assert "s3cret" not in result.err

    config = home_dir / "config"
    config.mkdir()
    (config / "sources.toml").write_text('[settings.notify]\nurls = ["https://hooks.example.org/x"]\n')
    result = run_cli(home_dir, "status")
    assert result.code == 2 and "sources.toml): notify.urls.0:" in result.err
    assert "unsupported scheme 'https' (for a webhook use json://, xml:// or form://)" in result.err

    result = run_cli(home_dir, "status", env={"MONITOR_NOTIFY__KINDS": '["changed", "edited"]',
                                              "MONITOR_NOTIFY__URLS": "[]"})
    assert result.code == 2 and "notify.kinds: unknown event kind 'edited'" in result.err


def test_notifiers_that_look_alike_redacted_get_distinct_labels() -> None:
    policy = NotifySettings(urls=["json://desk:first-secret@127.0.0.1:9/hook",
                                  "json://desk:other-secret@127.0.0.1:9/hook", "form://127.0.0.1:9/f"])
    assert [t.label for t in targets_of(policy)] == [
        "json://desk:****@127.0.0.1:9/hook", "json://desk:****@127.0.0.1:9/hook #2", "form://127.0.0.1:9/f"]
    assert "secret" not in repr(targets_of(policy)) + repr(policy)


def test_notify_test_says_which_notifiers_work(home_dir: Path, receiver: Receiver) -> None:
    receiver.fail("broken")
    urls = [receiver.url("desk", userinfo=f"desk:{PASSWORD}"), receiver.url("broken")]
    result = run_cli(home_dir, "notify", "--test", env={"MONITOR_NOTIFY__URLS": json.dumps(urls)})
    assert result.code == 1
    assert result.out.splitlines() == [
        f"ok      json://desk:****@127.0.0.1:{receiver.port}/desk",
        f"FAILED  json://127.0.0.1:{receiver.port}/broken: Failed to send JSON POST notification: "
        "Internal server error., error=500",
    ]
    assert "1 of 2 notifiers failed" in result.err and PASSWORD not in result.out + result.err
    assert sorted((m.path, m.title) for m in receiver.received) == [
        ("/broken", "source-monitor: test notification"), ("/desk", "source-monitor: test notification")]

    receiver.heal()
    assert run_cli(home_dir, "notify", "--test", env={"MONITOR_NOTIFY__URLS": json.dumps(urls)}).code == 0
    none = run_cli(home_dir, "notify", "--test")
    assert none.code == 2 and "no notifiers: set notify.urls" in none.err
