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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from monitor.archive.policy import CheckFacts, compact_fields, full_copy_reason
from monitor.archive.warc import RecordRef, Stored, WarcArchive
from monitor.clock import Clock, iso
from monitor.compare import ArticleContent, fingerprint, similarity
from monitor.events import new_event
from monitor.exchange import FetchError, HttpExchange
from monitor.extract import Extraction, Extractor
from monitor.fetch import Fetcher
from monitor.health import Observation, PassGuard, Signal, Transition, is_network_failure, judge
from monitor.health import observe as observe_link
from monitor.health.drift import drift
from monitor.health.probe import Prober
from monitor.health.signals import DEATH, HEALTHY
from monitor.settings import HealthSettings, Settings
from monitor.shards import ShardPool
from monitor.store import session
from monitor.store.commit import GroupCommit, batched, run_batched
from monitor.store.models import Capture, Event, Host, Source, Version
from monitor.store.sources import CheckInputs, check_inputs, next_check
from monitor.urls import host_of
from monitor.versions import ContentOutcome, content_of, record_content, seen_again

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
    prober: Prober | None = None
    shards: ShardPool | None = None  # the worker processes a big pass is split over

    def host_prober(self) -> Prober:
        """The pass's Bar-Yossef prober (made on first use; its cache lives in the DB)."""
        if self.prober is None:
            self.prober = Prober(self.engine, self.fetcher, self.extractor, self.clock,
                                 self.settings.health, self.settings.identity.user_agent(), self.rng)
        return self.prober


@dataclass
class CheckOutcome:
    source_id: int
    url: str
    signal: str
    reason: str
    events: list[Event]
    offline: bool = False
    failed: bool = False  # the fetch did not produce an answer we could judge
    deferred: bool = False  # not fetched: the host asked us to back off
    extraction: str = "none"  # "full", "fingerprint" (proved unchanged, not extracted) or "none"


@dataclass(frozen=True)
class Kept:
    """What the archive kept of a fetch: its records (None: nothing, or the row only) and
    the stored response a revisit or compact record stands in for."""

    stored: Stored | None
    previous_id: int | None
    repeated: bool  # a 304 or identical bytes: the article is the previous one


SUSPICIOUS = 0.5  # below this similarity to the last good version, ask the host's probe


async def check_source(
    ctx: CheckContext, source_id: int, guard: PassGuard | None = None, *,
    inputs: CheckInputs | None = None, committer: GroupCommit | None = None,
) -> CheckOutcome:
    """Check one source now. ``guard`` is the pass's offline guard (one is made if None).

    A pass hands in what it read for all its sources at once (``inputs``, see
    ``check_inputs``) and a ``committer`` that commits many checks' rows together; alone,
    the check reads and commits for itself.
    """
    guard = guard or PassGuard(1, ctx.settings.health)
    inputs = inputs or _read_inputs(ctx, source_id)
    source, host = inputs.source, inputs.host
    last_response, validated = _usable(inputs.last_response), _usable(inputs.validated)
    if host is not None and host.backoff_until is not None and host.backoff_until > ctx.clock.now():
        guard.skipped()
        return _defer(ctx, source_id, host)
    result: HttpExchange | FetchError | None = None
    try:
        result = await ctx.fetcher.fetch(
            source.url, etag=source.etag, last_modified=source.last_modified,
            private_ok=source.origin != "web" or ctx.settings.web.allow_private_urls)
    finally:
        guard.fetched(host_of(source.url), is_network_failure(result))
    assert result is not None
    # a 304 repeats the response our validators came from; an identical payload, the last one
    not_modified = isinstance(result, HttpExchange) and result.status == 304
    previous = (validated or last_response) if not_modified else last_response
    repeated = _repeats(source, previous, result)
    extraction, current = (Extraction(), None) if repeated else await _extract(ctx, source, result)
    content = extraction.content
    if content is not None and current is None:
        current = _current_version(ctx, source)
    observation = observe_link(result, source.url, content)
    if repeated:
        observation = _repeat_verdict(observation, previous)
    observation = await _second_look(ctx, source, result, content, current, observation)
    offline = is_network_failure(result) and await guard.offline()
    stored = _archive(ctx, source, previous, result, repeated, _facts(observation, content, current))
    kept = Kept(stored, previous.id if previous is not None else None, repeated)
    again = _seen_again(kept, extraction, current)
    change = _record(ctx, source_id, result, kept, extraction, offline, observation, again)
    if committer is not None:
        reads = [(Version, source.current_version_id)] if not again else []
        return await committer.submit(change, [(Source, source_id), *reads])
    ctx.archive.sync()  # the records on disk before the rows that point to them
    with session(ctx.engine) as db:
        outcome = change(db)
        run_batched(db)
        db.commit()
    return outcome


def _read_inputs(ctx: CheckContext, source_id: int) -> CheckInputs:
    with session(ctx.engine) as db:
        inputs = check_inputs(db, [source_id]).get(source_id)
    if inputs is None:
        raise LookupError(f"source {source_id} does not exist")
    return inputs


def _repeats(source: Source, previous: Capture | None, result: HttpExchange | FetchError) -> bool:
    """A 304, or the very bytes of the last stored response: nothing new to read."""
    if not isinstance(result, HttpExchange) or previous is None:
        return False
    return result.status == 304 or result.payload_digest == source.last_payload_digest


def _facts(observation: Observation, content: ArticleContent | None, current: Version | None) -> CheckFacts:
    return CheckFacts(signal=observation.signal.value,
                      article=fingerprint(content) if content is not None else None,
                      current_version_id=current.id if current else None,
                      current_article=current.fingerprint if current else None)


def _repeat_verdict(observation: Observation, previous: Capture | None) -> Observation:
    """A 304 or an identical payload says what the response it repeats said.

    Without this, an unchanged "not found" page (a revisit, nothing extracted) would
    read as a healthy answer and undo the evidence gathered so far.
    """
    if previous is None or previous.outcome not in DEATH:
        return observation
    signal = Signal(previous.outcome)
    return Observation(signal, f"same page as the {signal.value} answer of {iso(previous.at)}",
                       observation.evidence)


async def _second_look(
    ctx: CheckContext, source: Source, result: HttpExchange | FetchError,
    content: ArticleContent | None, current: Version | None, observation: Observation,
) -> Observation:
    """Is this healthy-looking 200 the host's dead end, or another article?

    Only new content that differs from the last good version is looked at twice: the
    host's Bar-Yossef probe (monitor/health/probe.py) when the text is new or collapsed,
    then content drift (monitor/health/drift.py).
    """
    if observation.signal not in (Signal.OK, Signal.MOVED) or content is None:
        return observation
    assert isinstance(result, HttpExchange)
    if current is not None and fingerprint(content) == current.fingerprint:
        return observation
    before = content_of(current) if current is not None else None
    score = similarity(before.text, content.text) if before is not None else None
    if ctx.settings.health.probe and (score is None or score < SUSPICIOUS):
        probe = await ctx.host_prober().probe(result.url)
        dead_end = probe.matches(result.url, content)
        if dead_end is not None:
            return Observation(Signal.SOFT404, f"soft 404: {dead_end}",
                               {**observation.evidence, "probe": probe.url})
    if before is not None:
        reason = drift(before, content, source.url, ctx.settings.health.drift_similarity, score)
        if reason is not None:
            return Observation(Signal.DRIFT, reason, {**observation.evidence, "title": content.title})
    return observation


def _current_version(ctx: CheckContext, source: Source) -> Version | None:
    """Read only for new bytes that were extracted: revisits and 304s never need it."""
    if source.current_version_id is None:
        return None
    with session(ctx.engine) as db:
        return db.get(Version, source.current_version_id)


def _defer(ctx: CheckContext, source_id: int, host: Host) -> CheckOutcome:
    """Leave the source for after the host's back-off, without fetching it."""
    assert host.backoff_until is not None
    with session(ctx.engine) as db:
        source = _get(db, source_id)
        source.lease_until = None
        spread = timedelta(seconds=ctx.rng.uniform(0, 60))
        source.next_check_at = host.backoff_until + spread
        db.commit()
        reason = f"host {host.host} backing off until {iso(host.backoff_until)}: {host.backoff_reason}"
        return CheckOutcome(source_id, source.url, "deferred", reason, [], deferred=True)


def _get(db: Session, source_id: int) -> Source:
    source = db.get(Source, source_id)
    if source is None:
        raise LookupError(f"source {source_id} does not exist")
    return source


def _archive(
    ctx: CheckContext, source: Source, previous: Capture | None, result: HttpExchange | FetchError,
    repeated: bool, facts: CheckFacts,
) -> Stored | None:
    """Write the WARC records for this fetch (flushed to disk before any row is committed).

    Repeated bytes become a revisit; new bytes a full response or, when the capture
    policy finds nothing new in them, a compact record (monitor/archive/policy.py).
    """
    if isinstance(result, FetchError):
        return None
    if repeated:
        assert previous is not None
        profile = "server-not-modified" if result.status == 304 else "identical-payload-digest"
        return ctx.archive.write_revisit(result, refers_to=stored_of(previous),
                                         refers_to_uri=previous.final_url or previous.url,
                                         refers_to_date=previous.at, profile=profile)
    if previous is None or full_copy_reason(ctx.settings.archive, previous, result, facts):
        return ctx.archive.write_response(result)
    if ctx.settings.archive.compact == "row":
        return None
    about = compact_fields(result, previous, facts, result.payload_digest)
    return ctx.archive.write_metadata(result, refers_to=stored_of(previous), about=about)


def _usable(capture: Capture | None) -> Capture | None:
    """A capture holding a full response, which a revisit may refer to."""
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


async def _extract(ctx: CheckContext, source: Source,
                   result: HttpExchange | FetchError) -> tuple[Extraction, Version | None]:
    """Extract new payloads of successful responses, unless their extraction input is the
    one the current version was extracted from (monitor/extract.py: exact, not a guess).
    With the extraction, the current version when it was read (the check needs it later)."""
    if not isinstance(result, HttpExchange) or not 200 <= result.status < 300 or not result.body:
        return Extraction(), None
    known = source.extract_input_digest if ctx.settings.extract.fast_path else None
    found = await ctx.extractor.extract_unless(result.body, result.url, known)
    if not found.extracted:
        current = _current_version(ctx, source)
        if current is not None:
            return Extraction(content_of(current), "fingerprint", found.digest), current
        found = await ctx.extractor.extract_unless(result.body, result.url, None)
    return Extraction(found.content, "full", found.digest), None


def _seen_again(kept: Kept, extraction: Extraction, current: Version | None) -> bool:
    """The article is the current version (when the page is healthy and has one), known
    without comparing it again: a 304, the same bytes, new bytes whose extraction input
    proved it, or a full extraction that read exactly the current version (a page whose
    visible chrome churns: what ``record_content`` would conclude, with a field-for-field
    equality that is stricter than its fingerprint)."""
    return kept.repeated or extraction.kind == "fingerprint" or (
        extraction.kind == "full" and current is not None and extraction.content == content_of(current))


def _digest_to_keep(extraction: Extraction, observation: Observation, outcome: ContentOutcome) -> str | None:
    """The input digest a later check may take the current version for: this check's, only
    when what it extracted is exactly the version now current and the page was healthy."""
    if observation.signal not in HEALTHY or extraction.content is None:
        return None
    return extraction.digest if extraction.content == outcome.current_content else None


def _record(
    ctx: CheckContext,
    source_id: int,
    result: HttpExchange | FetchError,
    kept: Kept,
    extraction: Extraction,
    offline: bool,
    observation: Observation,
    again: bool,
) -> Callable[[Session], CheckOutcome]:
    """The check's changes, all in the transaction they are applied in: the capture row, the
    version, the health, the events. ``again``: the article is the current version
    (``_seen_again``)."""
    now = ctx.clock.now()
    content = extraction.content

    def change(db: Session) -> CheckOutcome:
        source = _get(db, source_id)
        row = _capture_values(source, result, kept)
        row["outcome"] = observation.signal.value
        healthy = observation.signal in HEALTHY  # a "not found" page is not a version of the article
        outcome = ContentOutcome(current_version_id=source.current_version_id)
        if healthy and source.current_version_id is not None and again and (
                row["record_type"] != "response"):
            # nothing needs the capture's id before the commit: a row in one multi-row INSERT
            # for the batch rather than an ORM object (a third of the DB work of a repeat)
            row["version_id"] = source.current_version_id
            batched(db, _INSERT_CAPTURE, row)
            outcome = seen_again(db, source, content, now)
        else:
            capture = Capture(**row)
            db.add(capture)
            db.flush()  # the capture's id, for a new version or the source
            row["id"] = capture.id
            if healthy:
                outcome = record_content(db, source, capture, content, kept.repeated, now, ctx.settings)
        events: list[Event] = list(outcome.events)
        if not offline:
            events.extend(_judge(db, source, observation, now, ctx, outcome))
        _update_source(ctx, source, result, row, observation, now, offline)
        if extraction.kind != "none":  # no extraction leaves the current version as it was
            source.extract_input_digest = _digest_to_keep(extraction, observation, outcome)
        _back_off(ctx, db, source, result, observation, now)
        db.add_all(events)
        failed = isinstance(result, FetchError) or observation.signal is not Signal.OK
        return CheckOutcome(source_id, source.url, observation.signal.value, observation.reason,
                            events, offline, failed and observation.signal is not Signal.NOT_MODIFIED,
                            extraction=extraction.kind)

    return change


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
    source.etag = source.last_modified = source.validators_capture_id = None
    return True


_CAPTURE = Capture.__table__  # type: ignore[attr-defined]
_INSERT_CAPTURE = insert(_CAPTURE)
_NO_CAPTURE: dict[str, Any] = {c.name: None for c in _CAPTURE.columns if c.name != "id"}


def _capture_values(source: Source, result: HttpExchange | FetchError, kept: Kept) -> dict[str, Any]:
    """The capture row's columns, every one of them (the rows of an executemany have the
    same keys)."""
    row = {**_NO_CAPTURE, "source_id": source.id or 0, "at": result.fetched_at, "url": source.url,
           "elapsed_ms": result.elapsed_ms,
           "redirects": [{"url": h.url, "status": h.status, "location": h.location}
                         for h in result.redirects]}
    if isinstance(result, FetchError):
        row["error_class"], row["error"] = result.error_class, result.message
        return row
    row["final_url"], row["status"] = result.url, result.status
    row["content_length"] = len(result.body)
    stored = kept.stored
    if stored is None or stored.record_type != "response":  # revisit or compact: same as previous
        row["refers_to_capture_id"] = kept.previous_id
        row["payload_digest"] = result.payload_digest if result.status != 304 else None
    if stored is not None:
        row["record_type"], row["record_id"] = stored.record_type, stored.record_id
        row["payload_digest"] = stored.payload_digest or row["payload_digest"]
        row["warc_file"] = stored.response.file
        row["warc_offset"], row["warc_length"] = stored.response.offset, stored.response.length
        if stored.request is not None:
            row["request_offset"] = stored.request.offset
            row["request_length"] = stored.request.length
    return row


def _update_source(
    ctx: CheckContext, source: Source, result: HttpExchange | FetchError, capture: dict[str, Any],
    observation: Observation, now: datetime, offline: bool,
) -> None:
    """``capture``: the capture row's values (its id, once it has one)."""
    source.last_check_at = now
    source.lease_until = None
    source.last_result = "offline" if offline else _result_label(result, observation)
    source.next_check_at = _next_check_at(ctx, source, observation, now, offline)
    record_type = capture["record_type"]
    if record_type == "response":
        source.last_response_capture_id = capture["id"]
        source.last_payload_digest = capture["payload_digest"]
    # validators stay those of a stored response: a 304 then repeats bytes we hold
    if isinstance(result, HttpExchange) and 200 <= result.status < 300 and record_type in (
            "response", "revisit"):
        source.etag = result.header("etag")
        source.last_modified = result.header("last-modified")
        source.validators_capture_id = (capture["refers_to_capture_id"] if record_type == "revisit"
                                        else capture["id"])


def _back_off(
    ctx: CheckContext, db: Session, source: Source, result: HttpExchange | FetchError,
    observation: Observation, now: datetime,
) -> None:
    """A 429 or 503 speaks for the whole host: nobody fetches from it until it is over."""
    if not isinstance(result, HttpExchange) or result.status not in (429, 503):
        return
    until = now + _retry_delay(observation, ctx.settings.health)
    host_name = host_of(source.url)
    host = db.get(Host, host_name) or Host(host=host_name)
    if host.backoff_until is None or host.backoff_until < until:
        host.backoff_until = until
        host.backoff_reason = f"{result.status} from {source.url}" + (
            f" (Retry-After {observation.retry_after}s)" if observation.retry_after else "")
    db.add(host)


def _retry_delay(observation: Observation, policy: HealthSettings) -> timedelta:
    """Retry-After when the server gave one, else ``transient_backoff``; 1 s to ``max_backoff``."""
    wait = timedelta(seconds=observation.retry_after or 0) or policy.transient_backoff
    return min(max(wait, timedelta(seconds=1)), policy.max_backoff)


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
        return now + min(_retry_delay(observation, ctx.settings.health), interval)
    return next_check(now, interval, schedule.jitter, ctx.rng)
