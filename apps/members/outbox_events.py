"""The payloads of the members app's outbox events (docs/webhooks.md documents each field).

Plain JSON only: ids, amounts, balances, codes and ISO times. Never a name, phone number or email address; the
member is named by its id (and, on member events, the external ID the brand's own systems know it by).
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from apps.core.outbox import Event, EventType
from apps.members.models import Member, PointsEntryKind, TierChange

POINTS_EVENT_TYPES = {
    PointsEntryKind.EARN: EventType.POINTS_EARNED,
    PointsEntryKind.MIGRATE: EventType.POINTS_EARNED,
    PointsEntryKind.SPEND: EventType.POINTS_SPENT,
    PointsEntryKind.EXPIRE: EventType.POINTS_EXPIRED,
    PointsEntryKind.ADJUST: EventType.POINTS_ADJUSTED,
    PointsEntryKind.REVERSE: EventType.POINTS_REVERSED,
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def member_event(event_type: str, member: Member, **extra: Any) -> Event:
    data = {"member_id": member.pk, "external_id": member.external_id, "status": str(member.status), **extra}
    return event_type, member.pk, data


def points_events(moves: Sequence[Any], rows: Sequence[dict[str, Any]]) -> Iterator[Event]:
    """An event per ledger row the ledger just wrote (its moves, and the rows as ``_write`` built them)."""
    for move, row in zip(moves, rows, strict=True):
        member_id = move.account.member_id
        yield (
            POINTS_EVENT_TYPES[row["kind"]],
            member_id,
            {
                "member_id": member_id,
                "entry_id": row["id"],
                "kind": str(row["kind"]),
                "amount": row["amount"],
                "balance_after": row["balance_after"],
                "reason_code": row.get("reason_code", ""),
                "source_ref": row["source_ref"],
                "expires_at": _iso(row["expires_at"]),
                "reverses_entry_id": row["reverses_id"],
            },
        )


def tier_events(changes: Iterable[TierChange]) -> Iterator[Event]:
    for change in changes:
        yield (
            EventType.TIER_CHANGED,
            change.member_id,
            {
                "member_id": change.member_id,
                "tier_change_id": change.pk,
                "kind": str(change.kind),
                "from_tier": change.from_tier.code if change.from_tier_id else None,
                "to_tier": change.to_tier.code,
                "growth_value": change.growth_value,
            },
        )
