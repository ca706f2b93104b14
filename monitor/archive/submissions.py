"""Public copies of new versions: each version a pass archives or finds changed is
submitted to Save Page Now at the end of the pass, and the outcome kept in ``PublicCopy``.

The checks are committed before this runs, so nothing here can break one. A failed
submission is retried on a later pass after a back-off that doubles with each failure;
a version once saved is never submitted again; a version the page no longer shows is
not submitted at all (SPN captures what is live, so it would archive the newer one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from monitor.archive.public import SavePageNow, SpnJob, SpnRefused, SpnRejected
from monitor.clock import Clock
from monitor.settings import PublicSettings
from monitor.store import session
from monitor.store.models import Capture, PublicCopy, Source, Version

if TYPE_CHECKING:
    from monitor.check import CheckContext, CheckOutcome
    from monitor.schedule import PassSummary

log = logging.getLogger("monitor.public")
NEW_VERSION_KINDS = frozenset({"archived", "changed"})
MAX_BACKOFF = timedelta(days=1)


async def save_public_copies(ctx: CheckContext, summary: PassSummary) -> str:
    """The end-of-pass step: queue this pass's new versions, submit what is due, wait (bounded)
    for SPN to finish. Returns a phrase for the pass line ("" when there is nothing to say).

    Never raises, except on cancellation: a public copy is a courtesy, not part of a check.
    """
    if not ctx.settings.public.save_page_now or summary.offline:
        return ""
    try:
        async with SavePageNow(ctx.settings) as client:
            counts = await save_versions(client, ctx.engine, ctx.clock, ctx.settings.public,
                                         new_versions(summary.outcomes))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("public copies failed inside the monitor; the checks are not affected")
        return "public copies: error (see the log)"
    parts = [f"{counts[k]} {k}" for k in ("saved", "pending", "failed") if counts[k]]
    return "public copies: " + ", ".join(parts) if parts else ""


def new_versions(outcomes: list[CheckOutcome]) -> list[int]:
    """The versions this pass introduced (first versions and changes; not flip-flops)."""
    return [event.version_after for outcome in outcomes for event in outcome.events
            if event.kind in NEW_VERSION_KINDS and event.version_after is not None]


async def save_versions(
    spn: SavePageNow, engine: Engine, clock: Clock, policy: PublicSettings, version_ids: list[int]
) -> Counter[str]:
    """Queue ``version_ids``, submit every due row, then poll the submitted ones.

    Returns how many rows were saved and failed in this run, and how many are still pending.
    """
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + policy.spn_wait.total_seconds()
    with session(engine) as db:
        queue_versions(db, spn.archive, version_ids, clock.now())
        await _submit_due(db, spn, clock, policy, counts, deadline)
        await _collect(db, spn, clock, policy, counts, deadline)
        counts["pending"] = len(db.exec(select(PublicCopy.id).where(
            col(PublicCopy.status) == "pending")).all())
    return counts


def queue_versions(db: Session, archive: str, version_ids: list[int], now: datetime) -> None:
    """A pending row per version not yet queued for ``archive`` (one row per version, ever)."""
    for version_id in dict.fromkeys(version_ids):
        queued = db.exec(select(PublicCopy.id).where(col(PublicCopy.version_id) == version_id)
                         .where(col(PublicCopy.archive) == archive)).first()
        version = db.get(Version, version_id)
        if queued is not None or version is None:
            continue
        capture = db.get(Capture, version.capture_id) if version.capture_id else None
        source = db.get(Source, version.source_id)
        url = capture.url if capture is not None else source.url if source is not None else None
        if url is None:
            continue
        db.add(PublicCopy(source_id=version.source_id, version_id=version_id, archive=archive,
                          url=url, requested_at=now, next_attempt_at=now))
    db.commit()


async def _submit_due(
    db: Session, spn: SavePageNow, clock: Clock, policy: PublicSettings, counts: Counter[str],
    deadline: float,
) -> None:
    """Submit the rows whose time has come, one after another (SPN limits concurrent captures),
    at least one and then until ``deadline``: the rest stay due for the next pass.

    When SPN refuses us as a whole (keys, 429, outage), the rest wait as long as this one.
    """
    due = [row for row in db.exec(
        select(PublicCopy).where(col(PublicCopy.status).in_(["pending", "failed"]))
        .where(col(PublicCopy.job_id).is_(None)).where(col(PublicCopy.next_attempt_at) <= clock.now())
        .order_by(col(PublicCopy.requested_at), col(PublicCopy.id))).all() if not _superseded(db, row)]
    for index, row in enumerate(due):
        row.attempts += 1
        try:
            row.job_id = await spn.submit(row.url)
        except SpnRefused as exc:
            now = clock.now()
            _failed(row, str(exc), now, policy, exc.retry_after)
            _hold(due[index + 1:], row.next_attempt_at or now + policy.spn_backoff, str(exc))
            counts["failed"] += 1
            db.commit()
            log.warning("public copy of %s not submitted: %s", row.url, exc)
            return
        except SpnRejected as exc:
            _failed(row, str(exc), clock.now(), policy)
            counts["failed"] += 1
            log.warning("public copy of %s refused: %s", row.url, exc)
        else:
            row.status, row.last_error, row.next_attempt_at = "pending", None, None
        db.commit()
        if time.monotonic() >= deadline:
            return


async def _collect(
    db: Session, spn: SavePageNow, clock: Clock, policy: PublicSettings, counts: Counter[str],
    deadline: float,
) -> None:
    """Ask about the submitted jobs until all are done or ``deadline``; record what they became."""
    rows = list(db.exec(select(PublicCopy).where(col(PublicCopy.status) == "pending")
                        .where(col(PublicCopy.job_id).is_not(None))).all())
    if not rows:
        return
    states = await spn.wait([row.job_id or "" for row in rows], deadline - time.monotonic())
    for row in rows:
        job = states.get(row.job_id or "")
        if job is None or job.state == "pending":
            continue
        if job.state == "success":
            _saved(spn, row, job)
            counts["saved"] += 1
        else:
            _failed(row, f"SPN job {row.job_id}: {job.error}", clock.now(), policy)
            counts["failed"] += 1
            log.warning("public copy of %s failed: %s", row.url, row.last_error)
    db.commit()


def _superseded(db: Session, row: PublicCopy) -> bool:
    """A version the page no longer shows is not submitted: SPN would archive the newer one."""
    source = db.get(Source, row.source_id)
    if source is None or source.current_version_id == row.version_id:
        return False
    current = db.get(Version, source.current_version_id) if source.current_version_id else None
    row.status, row.next_attempt_at = "failed", None
    row.last_error = "superseded: the page now shows " + (
        f"version {current.number}" if current else "no version")
    db.commit()
    return True


def _saved(spn: SavePageNow, row: PublicCopy, job: SpnJob) -> None:
    assert job.timestamp is not None
    row.status, row.memento_at = "saved", job.timestamp
    row.uri_m = spn.memento_uri(job.timestamp, job.original_url or row.url)
    row.job_id = row.last_error = row.next_attempt_at = None


def _failed(row: PublicCopy, error: str, now: datetime, policy: PublicSettings,
            retry_after: float | None = None) -> None:
    """Record a failed attempt; retry after the doubling back-off, or give up."""
    row.status, row.job_id, row.last_error = "failed", None, error
    if row.attempts >= policy.spn_max_attempts:
        row.next_attempt_at = None
        row.last_error = f"{error} (gave up after {row.attempts} attempts)"
        return
    delay = min(policy.spn_backoff * 2 ** max(row.attempts - 1, 0), MAX_BACKOFF)
    row.next_attempt_at = now + max(delay, timedelta(seconds=retry_after or 0))


def _hold(rows: list[PublicCopy], until: datetime, reason: str) -> None:
    """Rows not tried because SPN refused us: they wait as long as the one that was."""
    for row in rows:
        row.next_attempt_at = until
        row.last_error = f"not submitted yet: {reason}"
