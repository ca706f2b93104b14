"""The capture policy: which checks keep the full response, and which are kept compactly.

Real news pages churn on every fetch (timestamps, nonces, ad slots), so their bytes
never repeat and identical-payload revisits never apply; storing every response costs
~100 KB per check. The policy (DESIGN.md, "Archive") keeps the full response when it
is evidence of something, and records the other checks compactly:

- full when nothing is stored yet, when the article changed (new, flip-flop, failed
  extraction), when the link health changed (status, verdict or final URL), and at
  least once per ``archive.full_every``;
- otherwise a small WARC ``metadata`` record naming the stored response it matches
  (``archive.compact = "metadata"``) or the Capture row only (``"row"``).

``archive.keep = "every"`` turns the policy off. Unchanged payloads (304, identical
bytes) are revisits whatever the policy: those claims are true by digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.exchange import HttpExchange
from monitor.health.signals import HEALTHY
from monitor.settings import ArchiveSettings
from monitor.store.models import Capture

HEALTHY_OUTCOMES = frozenset(signal.value for signal in HEALTHY)


@dataclass(frozen=True)
class CheckFacts:
    """What this check found, as the policy needs it."""

    signal: str  # the health observation's signal value
    article: str | None  # fingerprint of the extracted article, None when nothing was read
    current_version_id: int | None
    current_article: str | None  # fingerprint of the source's current version


def full_copy_reason(
    policy: ArchiveSettings, last_full: Capture | None, result: HttpExchange, facts: CheckFacts
) -> str | None:
    """Why this response must be kept in full, or None when a compact record will do."""
    if policy.keep == "every":
        return "archive.keep = every"
    if last_full is None or last_full.warc_file is None:
        return "first stored response"
    if result.status != last_full.status or facts.signal != last_full.outcome:
        return "link health changed"
    if result.url != (last_full.final_url or last_full.url):
        return "final URL changed"
    if facts.signal in HEALTHY_OUTCOMES and not _same_article(last_full, facts):
        return "article changed"
    if result.fetched_at - last_full.at >= policy.full_every:
        return "periodic full copy"
    return None


def _same_article(last_full: Capture, facts: CheckFacts) -> bool:
    """The stored response holds the current version, and this check read that same text."""
    return (
        facts.article is not None
        and facts.article == facts.current_article
        and facts.current_version_id is not None
        and last_full.version_id == facts.current_version_id
    )


def compact_fields(
    result: HttpExchange, last_full: Capture, facts: CheckFacts, digest: str
) -> dict[str, str]:
    """The body of a compact ``metadata`` record: what came back, and what it matched."""
    fields = {
        "check": "unchanged article; full response not kept (capture policy)",
        "http-status": str(result.status),
        "payload-digest": digest,
        "payload-length": str(len(result.body)),
        "final-uri": result.url,
        "matches-record": last_full.record_id or "",
        "matches-date": last_full.at.isoformat(),
        "link-health": facts.signal,
    }
    if facts.article is not None:
        fields["article-fingerprint"] = facts.article
    return fields
