"""Reminders: points about to expire, unused benefits about to expire, a tier about to drop; one message per member.

Each run reads what expires within the configured number of days, summarised per member (how many points or
grants, the first expiry), and queues one service message per member through the kind's fallback order
(``messages_enqueue_each``: a fixed number of queries per chunk). The dedupe key names the member and the
first expiry's date, so a member is reminded once about the points or grants expiring first; running twice,
or dying halfway and running again, sends nothing twice. A tier about to drop is announced once per tier period
(the dedupe key names the member, the tier and the guarantee period the drop falls in).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.messaging.models import MessagePurpose
from apps.messaging.policy import messaging_zone
from apps.messaging.services import Outgoing, messages_enqueue_each
from apps.reminders import selectors

POINTS_EXPIRING = "points_expiring"
BENEFIT_EXPIRING = "benefit_expiring"
TIER_DROPPING = "tier_dropping"


def _config(key: str) -> Any:
    return settings.USEROPS_REMINDERS[key]


def _local_date(value: datetime) -> str:
    return value.astimezone(messaging_zone()).date().isoformat()


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def reminders_points_expiring(*, now: datetime | None = None, days: int | None = None, chunk_size: int = 1000) -> int:
    """Remind every member whose points expire within ``days``; returns how many messages were queued."""
    now = now or timezone.now()
    end = now + timedelta(days=_config("POINTS_EXPIRING_DAYS") if days is None else days)
    rows = list(selectors.points_expiring_by_member(start=now, end=end))
    queued = 0
    for chunk in _chunks(rows, chunk_size):
        items = [
            Outgoing(
                member_id=row["member_id"],
                context={"expiring_points": row["points"], "expires_at": _local_date(row["first"])},
                dedupe_key=f"{POINTS_EXPIRING}:{row['member_id']}:{_local_date(row['first'])}",
            )
            for row in chunk
        ]
        queued += messages_enqueue_each(
            items=items, template_code=POINTS_EXPIRING, purpose=MessagePurpose.SERVICE, channel=_config("CHANNEL")
        )
    return queued


def reminders_benefits_expiring(*, now: datetime | None = None, days: int | None = None, chunk_size: int = 1000) -> int:
    """Remind every member whose unused benefits expire within ``days``; returns how many messages were queued."""
    now = now or timezone.now()
    end = now + timedelta(days=_config("BENEFITS_EXPIRING_DAYS") if days is None else days)
    rows = list(selectors.grants_expiring_by_member(start=now, end=end))
    queued = 0
    for chunk in _chunks(rows, chunk_size):
        names = selectors.first_expiring_benefit_names(member_ids=[row["member_id"] for row in chunk], start=now, end=end)
        items = [
            Outgoing(
                member_id=row["member_id"],
                context={
                    "benefit": names.get(row["member_id"], ""),
                    "benefit_count": row["grants"],
                    "expires_at": _local_date(row["first"]),
                },
                dedupe_key=f"{BENEFIT_EXPIRING}:{row['member_id']}:{_local_date(row['first'])}",
            )
            for row in chunk
        ]
        queued += messages_enqueue_each(
            items=items, template_code=BENEFIT_EXPIRING, purpose=MessagePurpose.SERVICE, channel=_config("CHANNEL")
        )
    return queued


def reminders_tier_dropping(*, now: datetime | None = None, days: int | None = None, chunk_size: int = 1000) -> int:
    """Remind every member whose tier would drop at the evaluation ``days`` from now if they earned nothing more;
    returns how many messages were queued."""
    now = now or timezone.now()
    at = now + timedelta(days=_config("TIER_DROPPING_DAYS") if days is None else days)
    queued = 0
    for drops in selectors.tier_drops_ahead(at=at, chunk_size=chunk_size):
        items = [
            Outgoing(
                member_id=drop.member_id,
                context={"drops_on": _local_date(at), "growth_needed": drop.growth_needed},
                dedupe_key=f"{TIER_DROPPING}:{drop.member_id}:{drop.tier_id}:{drop.period}",
            )
            for drop in drops
        ]
        queued += messages_enqueue_each(
            items=items, template_code=TIER_DROPPING, purpose=MessagePurpose.SERVICE, channel=_config("CHANNEL")
        )
    return queued


@dataclass
class ReminderSummary:
    points_expiring: int
    benefits_expiring: int
    tier_dropping: int


def reminders_send_due(*, now: datetime | None = None) -> ReminderSummary:
    now = now or timezone.now()
    return ReminderSummary(
        points_expiring=reminders_points_expiring(now=now),
        benefits_expiring=reminders_benefits_expiring(now=now),
        tier_dropping=reminders_tier_dropping(now=now),
    )
