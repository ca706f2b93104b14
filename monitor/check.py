"""``check_source``: the one function that checks one source, end to end.

fetch → capture (WARC, flushed before the DB commit) → extract → compare → judge
link health → events, all committed in one transaction. The embedded scheduler,
``monitor check`` and any distributed worker call this; nothing else knows how
a check works. It is idempotent: a check interrupted before its commit leaves at
most an unreferenced (complete) WARC record behind.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from monitor.capture import RecordRef, Stored, WarcArchive, payload_digest
from monitor.clock import Clock
from monitor.compare import ArticleContent
from monitor.events import new_event
from monitor.exchange import FetchError, HttpExchange
from monitor.extract import Extractor
from monitor.fetch import Fetcher
from monitor.health import Observation, PassGuard, Signal, Transition, is_network_failure, judge
from monitor.health import observe as observe_link
from monitor.health.signals import HEALTHY
from monitor.settings import Settings
from monitor.store import session
from monitor.store.models import Capture, Event, Source
from monitor.store.sources import next_check
from monitor.urls import host_of
from monitor.versions import ContentOutcome, record_content

log = logging.getLogger("monitor.check")


@dataclass
class CheckContext:
    """Everything a check needs, injected: settings, DB, archive, HTTP client, extractor, clock."""

    settings: Settings
    engine: Engine
    archive: WarcArchive
    fetcher: Fetcher
    extractor: Extractor
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class CheckOutcome:
    source_id: int
    url: str
    signal: str
    reason: str
    events: list[Event]
    offline: bool = False
    failed: bool = False  # the fetch did not produce an answer we could judge


async def check_source(
    ctx: CheckContext, source_id: int, guard: PassGuard | None = None
) -> CheckOutcome:
    """Check one source now. ``guard`` is the pass's offline guard (one is made if None)."""
    guard = guard or PassGuard(1, ctx.settings.health)
    with session(ctx.engine) as db:
        source = _get(db, source_id)
        previous = _previous_response(db, source)
    result: HttpExchange | FetchError | None = None
    try:
        result = await ctx.fetcher.fetch(source.url, etag=source.etag,
                                         last_modified=source.last_modified)
    finally:
        guard.fetched(host_of(source.url), is_network_failure(result))
    assert result is not None
    stored = _archive(ctx, source, previous, result)
    content = await _extract(ctx, result, stored)
    offline = is_network_failure(result) and await guard.offline()
    return _record(ctx, source_id, result, stored, content, offline)


def _get(db: Session, source_id: int) -> Source:
    source = db.get(Source, source_id)
    if source is None:
        raise LookupError(f"source {source_id} does not exist")
    return source


def _archive(
    ctx: CheckContext, source: Source, previous: Capture | None, result: HttpExchange | FetchError
) -> Stored | None:
    """Write the WARC records for this fetch (flushed to disk before any row is committed)."""
    if isinstance(result, FetchError):
        return None
    if previous is None:
        return ctx.archive.write_response(result)
    if result.status == 304:
        profile = "server-not-modified"
    elif payload_digest(result.body) == source.last_payload_digest:
        profile = "identical-payload-digest"
    else:
        return ctx.archive.write_response(result)
    return ctx.archive.write_revisit(result, refers_to=stored_of(previous),
                                     refers_to_uri=previous.final_url or previous.url,
                                     refers_to_date=previous.at, profile=profile)


def _previous_response(db: Session, source: Source) -> Capture | None:
    """The capture holding the last full response, which a revisit refers to."""
    if source.last_response_capture_id is None:
        return None
    capture = db.get(Capture, source.last_response_capture_id)
    if capture is None or capture.warc_file is None or capture.record_id is None:
        return None
    return capture


def stored_of(capture: Capture) -> Stored:
    """The WARC location of a capture's records, as the archive module names them."""
    assert capture.warc_file and capture.warc_offset is not None and capture.warc_length
    request = None
    if capture.request_offset is not None and capture.request_length:
        request = RecordRef(capture.warc_file, capture.request_offset, capture.request_length)
    return Stored(
        record_type=capture.record_type or "response",
        record_id=capture.record_id or "",
        payload_digest=capture.payload_digest or "",
        response=RecordRef(capture.warc_file, capture.warc_offset, capture.warc_length),
        request=request,
    )


async def _extract(
    ctx: CheckContext, result: HttpExchange | FetchError, stored: Stored | None
) -> ArticleContent | None:
    """Extract only new payloads of successful responses: a revisit's article is unchanged."""
    if not isinstance(result, HttpExchange) or stored is None or stored.record_type != "response":
        return None
    if not 200 <= result.status < 300 or not result.body:
        return None
    return await ctx.extractor.extract(result.body, result.url)


def _record(
    ctx: CheckContext,
    source_id: int,
    result: HttpExchange | FetchError,
    stored: Stored | None,
    content: ArticleContent | None,
    offline: bool,
) -> CheckOutcome:
    """One transaction: the capture row, the version, the health, the events."""
    now = ctx.clock.now()
    with session(ctx.engine) as db:
        source = _get(db, source_id)
        capture = _capture_row(source, result, stored)
        db.add(capture)
        db.flush()
        observation = observe_link(result, source.url, content)
        capture.outcome = observation.signal.value
        outcome = ContentOutcome(current_version_id=source.current_version_id)
        if observation.signal in HEALTHY:  # a "not found" page is not a version of the article
            unchanged = stored is not None and stored.record_type == "revisit"
            outcome = record_content(db, source, capture, content, unchanged, now, ctx.settings)
        events: list[Event] = list(outcome.events)
        if not offline:
            events.extend(_judge(db, source, observation, now, ctx, outcome))
        _update_source(ctx, source, result, capture, observation, now, offline)
        db.add_all(events)
        db.commit()
    failed = isinstance(result, FetchError) or observation.signal is not Signal.OK
    return CheckOutcome(source_id, source.url, observation.signal.value, observation.reason,
                        events, offline, failed and observation.signal is not Signal.NOT_MODIFIED)


def _judge(
    db: Session, source: Source, observation: Observation, now: datetime, ctx: CheckContext,
    content: ContentOutcome,
) -> list[Event]:
    transition: Transition | None = judge(source, observation, now, ctx.settings.health)
    if transition is None:
        return []
    details: dict[str, object] = {"from": transition.before.value, "to": transition.after.value,
                                  "evidence": transition.evidence}
    if transition.kind == "moved" and observation.new_url:
        details["followed"] = _follow_move(db, source, observation.new_url)
    return [new_event(transition.kind, now, transition.summary, severity=transition.severity,
                      source=source, details=details, version_after=content.current_version_id)]


def _follow_move(db: Session, source: Source, new_url: str) -> bool:
    """Watch the new URL from now on, keeping id and history; not when another source has it."""
    taken = db.exec(select(Source.id).where(col(Source.url) == new_url)).first()
    if taken is not None and taken != source.id:
        return False
    source.previous_urls = [*source.previous_urls, source.url]
    source.url = new_url
    source.etag = source.last_modified = None
    return True


def _capture_row(source: Source, result: HttpExchange | FetchError, stored: Stored | None) -> Capture:
    capture = Capture(source_id=source.id or 0, at=result.fetched_at, url=source.url,
                      elapsed_ms=result.elapsed_ms,
                      redirects=[{"url": h.url, "status": h.status, "location": h.location}
                                 for h in result.redirects])
    if isinstance(result, FetchError):
        capture.error_class, capture.error = result.error_class, result.message
        return capture
    capture.final_url, capture.status = result.url, result.status
    capture.content_length = len(result.body)
    if stored is not None:
        capture.record_type, capture.record_id = stored.record_type, stored.record_id
        capture.payload_digest = stored.payload_digest
        capture.warc_file = stored.response.file
        capture.warc_offset, capture.warc_length = stored.response.offset, stored.response.length
        if stored.request is not None:
            capture.request_offset = stored.request.offset
            capture.request_length = stored.request.length
        if stored.record_type == "revisit":
            capture.refers_to_capture_id = source.last_response_capture_id
    return capture


def _update_source(
    ctx: CheckContext, source: Source, result: HttpExchange | FetchError, capture: Capture,
    observation: Observation, now: datetime, offline: bool,
) -> None:
    source.last_check_at = now
    source.lease_until = None
    source.last_result = "offline" if offline else _result_label(result, observation)
    source.next_check_at = _next_check_at(ctx, source, observation, now, offline)
    if capture.record_type == "response":
        source.last_response_capture_id = capture.id
        source.last_payload_digest = capture.payload_digest
    if isinstance(result, HttpExchange) and 200 <= result.status < 300:
        source.etag = result.header("etag")
        source.last_modified = result.header("last-modified")


def _result_label(result: HttpExchange | FetchError, observation: Observation) -> str:
    if isinstance(result, FetchError):
        return result.error_class
    return f"{observation.signal.value} ({result.status})"


def _next_check_at(
    ctx: CheckContext, source: Source, observation: Observation, now: datetime, offline: bool
) -> datetime:
    schedule = ctx.settings.schedule
    interval = timedelta(seconds=source.interval_s) if source.interval_s else schedule.interval
    if offline or observation.signal is Signal.TRANSIENT:
        retry = timedelta(seconds=observation.retry_after or 0) or ctx.settings.health.transient_backoff
        return now + min(max(retry, timedelta(seconds=1)), interval)
    return next_check(now, interval, schedule.jitter, ctx.rng)
