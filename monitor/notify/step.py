"""The end-of-pass step: queue the pass's new events, then deliver what is due.

It runs after the checks are committed and never raises into the pass (except on
cancellation): a notifier that fails, or a bug here, is one log line, and the messages wait
in the outbox for the next pass. Apprise is loaded only when notifiers are configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING

from monitor.settings import NotifySettings
from monitor.store import session

if TYPE_CHECKING:
    from monitor.check import CheckContext
    from monitor.notify.targets import Target

log = logging.getLogger("monitor.notify")


def targets_of(policy: NotifySettings) -> list[Target]:
    """The configured notifiers, labelled."""
    from monitor.notify.targets import load_targets

    return load_targets([url.get_secret_value() for url in policy.urls])


async def notify_pass(ctx: CheckContext, offline: bool = False) -> str:
    """Queue and deliver; a phrase for the pass line ("" when there is nothing to say).

    ``offline``: the pass found the network unreachable, so messages are queued but not sent
    (a send now would only spend an attempt).
    """
    policy = ctx.settings.notify
    if not policy.urls:
        return ""
    from monitor.notify.outbox import queue_new_events
    from monitor.notify.send import deliver_due

    try:
        targets = targets_of(policy)
        with session(ctx.engine) as db:
            queue_new_events(db, policy, targets, ctx.clock.now())
        counts = Counter[str]() if offline else await deliver_due(ctx.engine, ctx.clock, policy, targets)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("notifications failed inside the monitor (%s: %s); the checks are not affected "
                  "and the messages wait for the next pass", type(exc).__name__, exc)
        log.debug("notification failure", exc_info=True)
        return "notifications: error (see the log)"
    return _phrase(counts)


def _phrase(counts: Counter[str]) -> str:
    parts = [f"{counts[k]} {k}" for k in ("sent", "failed", "given-up") if counts[k]]
    return "notifications: " + ", ".join(parts) if parts else ""
