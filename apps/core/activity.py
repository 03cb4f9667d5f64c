"""Member activity that an app announces, for whoever records it (the analytics app), without importing it.

A service that did something a member counts as activity — a redemption, a check-in, a referral — calls
``activity_happened(...)`` explicitly, in its own transaction. After that transaction commits, each registered
recorder gets the event; a recorder's failure is logged and never undoes the business change. Recorders are
idempotent by ``event_id``, so a backfill can replay the same events safely.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

Recorder = Callable[..., Any]
RECORDERS: list[Recorder] = []


def register_activity_recorder(recorder: Recorder) -> None:
    if recorder not in RECORDERS:
        RECORDERS.append(recorder)


def activity_happened(
    *,
    member_id: int,
    kind: str,
    event_id: str,
    occurred_at: datetime | None = None,
    channel: str = "",
    amount: Decimal | None = None,
    order_ref: str = "",
) -> None:
    """Announce one activity; recorders run once the current transaction commits."""
    event = {
        "member_id": member_id,
        "kind": kind,
        "event_id": event_id,
        "occurred_at": occurred_at or timezone.now(),
        "channel": channel,
        "amount": amount,
        "order_ref": order_ref,
    }

    def deliver() -> None:
        for recorder in RECORDERS:
            try:
                recorder(**event)
            except Exception:
                logger.exception("activity recorder %r failed for %s", recorder, event_id)

    transaction.on_commit(deliver)
