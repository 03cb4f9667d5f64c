"""Storing activity: what our own services announce (after their commit) and what trusted systems report in batches.

A newly stored event's reactions — purchase earning in members, referral qualification in campaigns — are registered
with ``apps.core.activity`` and run inside the ingest's transaction; analytics itself moves no points.
"""

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from apps.analytics.days import config, local_zone
from apps.analytics.models import OWN_SOURCE, ActivityChannel, ActivityEvent, ActivityEventKey, ActivityKind
from apps.analytics.services.kinds import KindCheck, property_problem, registered_kinds
from apps.core.activity import (
    AnnouncedActivity,
    IncomingActivity,
    StoredActivity,
    activities_stored,
    activity_batch,
    activity_reactions_concern,
    has_activity_handlers,
)
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient
from apps.members.models import Member

MAX_EVENT_ID_LENGTH = 128
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_PROPERTIES = 50
MAX_PROPERTIES_BYTES = 4096
MAX_DEVICE_ID_LENGTH = 64


def activity_record(
    *,
    member_id: int,
    kind: str,
    event_id: str,
    occurred_at: datetime,
    source: str = OWN_SOURCE,
    channel: str = "",
    amount: Decimal | None = None,
    order_ref: str = "",
    nps_score: int | None = None,
    properties: dict[str, Any] | None = None,
) -> bool:
    """Store one activity event of our own services and run its reactions; False when it was already stored."""
    if kind not in ActivityKind.values:
        raise ApplicationError("invalid_kind", _("Unknown activity kind."), fields={"kind": kind})
    if channel and channel not in ActivityChannel.values:
        channel = ActivityChannel.OTHER
    event = ActivityEvent(
        member_id=member_id,
        kind=kind,
        event_id=event_id,
        source=source,
        occurred_at=occurred_at,
        channel=channel,
        amount=amount,
        order_ref=order_ref[:128],
        nps_score=nps_score,
        properties=properties or {},
    )
    # The event and its reactions stand or fall together, and the reactions lock members and accounts; inside a
    # caller's transaction this adds no savepoint.
    with transaction.atomic(savepoint=False), activity_batch([_incoming(event)]):
        stored = _insert_new([event])
        if not stored:
            return False
        _react([(event, stored[event.event_id])], client=None)
    return True


ANNOUNCE_CHUNK = 1000  # rows per INSERT on SQLite: 13 parameters a row stays far below its variable limit


def activities_record(events: Sequence[AnnouncedActivity], rewards: bool, new_members: bool = False) -> int:
    """The batch recorder registered with apps.core.activity: store our own events in the caller's transaction and run
    their reactions (those that pay only when ``rewards``); the events newly stored.

    On PostgreSQL the keys are claimed and the events stored by one statement over arrays, whatever their number. With
    ``new_members`` the members were created in the caller's transaction, so no earlier event of theirs can exist and
    each member's first stored event of a kind is its first of that kind, without a query.
    """
    # An enum's ``values`` is rebuilt on every access: read once, not twice per event (a tenth of an import's time).
    channels, kinds = set(ActivityChannel.values), set(ActivityKind.values)
    rows = [
        ActivityEvent(
            member_id=event.member_id,
            kind=event.kind,
            event_id=event.event_id,
            source=OWN_SOURCE,
            occurred_at=event.occurred_at,
            channel=event.channel if event.channel in channels else (ActivityChannel.OTHER if event.channel else ""),
            properties={},
        )
        for event in events
    ]
    for row in rows:
        if row.kind not in kinds:
            raise ApplicationError("invalid_kind", _("Unknown activity kind."), fields={"kind": row.kind})
    with activity_batch([_incoming(row) for row in rows] if rewards else []):
        if connection.vendor == "postgresql":
            stored = _insert_new_own(rows)
        else:
            stored = {}
            for start in range(0, len(rows), ANNOUNCE_CHUNK):
                stored |= _insert_new(rows[start : start + ANNOUNCE_CHUNK])
        new = [(row, stored[row.event_id]) for row in rows if row.event_id in stored]
        _react(new, client=None, rewarded=rewards, earlier_events=not new_members)
    return len(new)


def _insert_new_own(events: list[ActivityEvent]) -> dict[str, int]:
    """``_insert_new`` for our own events (no amount, order, score, properties, device or address) on PostgreSQL: the
    keys claimed and the claimed events stored by one statement over one array per column, in the given order.

    The key table stays the claim: an event whose ``(source, event_id)`` another transaction claimed is not stored.
    """
    if not events:
        return {}
    keys, table = ActivityEventKey._meta.db_table, ActivityEvent._meta.db_table
    sql = (
        f"WITH incoming AS (SELECT * FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[], %s::text[])"  # noqa: S608
        " WITH ORDINALITY AS e(member_id, kind, occurred_at, event_id, channel, position)),"
        f" claimed AS (INSERT INTO {keys} (source, event_id) SELECT %s, event_id FROM incoming ORDER BY position"
        " ON CONFLICT (source, event_id) DO NOTHING RETURNING event_id)"
        f" INSERT INTO {table} (member_id, kind, occurred_at, recorded_at, source, event_id, order_ref, channel, properties, device_id)"
        " SELECT incoming.member_id, incoming.kind, incoming.occurred_at, %s, %s, incoming.event_id, '', incoming.channel, '{}'::jsonb, ''"
        " FROM incoming JOIN claimed USING (event_id) ORDER BY incoming.position RETURNING id, event_id"
    )
    sources = {event.source for event in events}
    if len(sources) != 1:
        raise ValueError("our own events carry one source")
    source = sources.pop()
    params = [
        [event.member_id for event in events],
        [event.kind for event in events],
        [event.occurred_at for event in events],
        [event.event_id for event in events],
        [event.channel for event in events],
        source,
        timezone.now(),
        source,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {event_id: pk for pk, event_id in cursor.fetchall()}


def _incoming(event: ActivityEvent) -> IncomingActivity:
    return IncomingActivity(member_id=event.member_id, kind=event.kind, device_id=event.device_id, client_ip=event.client_ip)


def activity_record_announced(**event: Any) -> None:
    """The recorder registered with apps.core.activity: what benefits, events and campaigns announce."""
    with transaction.atomic():
        activity_record(**event)


_EVENT_COLUMNS = [
    "member",
    "kind",
    "occurred_at",
    "recorded_at",
    "source",
    "event_id",
    "amount",
    "order_ref",
    "channel",
    "nps_score",
    "properties",
    "device_id",
    "client_ip",
]


def _insert_new(events: list[ActivityEvent]) -> dict[str, int]:
    """Claim each event's ``(source, event_id)`` in the key table (INSERT … ON CONFLICT DO NOTHING RETURNING), then store
    the events whose key this call claimed: the event ids actually stored, with their row ids.

    Concurrent batches carrying the same event cannot both claim it (the second waits on the first's key row, then
    finds it taken), so it is stored once and its reactions run once. ``events`` carry distinct keys.
    """
    if not events:
        return {}
    if connection.vendor == "postgresql":
        return _claim_and_insert(events)
    keys = ActivityEventKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {keys} (source, event_id) VALUES {', '.join(['(%s, %s)'] * len(events))} "  # noqa: S608
            "ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id",
            [value for event in events for value in (event.source, event.event_id)],
        )
        claimed = set(cursor.fetchall())
    events = [event for event in events if (event.source, event.event_id) in claimed]
    if not events:
        return {}
    now = timezone.now()
    fields = [ActivityEvent._meta.get_field(name) for name in _EVENT_COLUMNS]
    rows, params = [], []
    for event in events:
        event.recorded_at = now
        rows.append("(" + ", ".join(["%s"] * len(fields)) + ")")
        params += [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    table = ActivityEvent._meta.db_table
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join(rows)} RETURNING id, event_id"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {event_id: pk for pk, event_id in cursor.fetchall()}


def _claim_and_insert(events: list[ActivityEvent]) -> dict[str, int]:
    """``_insert_new`` on PostgreSQL in one statement: the keys claimed by a data-modifying CTE, and only the events whose
    key it claimed inserted, in the given order. A key another transaction holds makes the claim wait for it, as two
    statements would; one round trip instead of two (an announced event is stored alone, after its service's commit)."""
    fields = [ActivityEvent._meta.get_field(name) for name in _EVENT_COLUMNS]
    # Typed, as a SELECT's parameters are not given their column's type the way an INSERT's VALUES are.
    row = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields)
    now = timezone.now()
    params: list[Any] = [value for event in events for value in (event.source, event.event_id)]
    for position, event in enumerate(events):
        event.recorded_at = now
        params += [position, *(field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields)]
    keys, table = ActivityEventKey._meta.db_table, ActivityEvent._meta.db_table
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    sql = (
        f"WITH claimed AS (INSERT INTO {keys} (source, event_id) VALUES {', '.join(['(%s, %s)'] * len(events))}"  # noqa: S608
        " ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id)"
        f" INSERT INTO {table} ({columns}) SELECT {columns} FROM (VALUES {', '.join([f'(%s, {row})'] * len(events))})"
        f" AS incoming (position, {columns}) JOIN claimed USING (source, event_id) ORDER BY position RETURNING id, event_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {event_id: pk for pk, event_id in cursor.fetchall()}


# Ingestion ---------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    points_awarded: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "points_awarded": self.points_awarded,
            "items": self.items,
        }


class _InvalidItemError(Exception):
    def __init__(self, code: str, field_name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field_name, self.message = code, field_name, message


def _text(item: dict[str, Any], name: str, *, required: bool, max_length: int) -> str:
    value = item.get(name)
    if value in (None, ""):
        if required:
            raise _InvalidItemError("required", name, _("This field is required."))
        return ""
    if not isinstance(value, str) or len(value.strip()) > max_length:
        raise _InvalidItemError("invalid", name, _("Text of at most %(max)d characters is required.") % {"max": max_length})
    return value.strip()


def _occurred_at(item: dict[str, Any], now: datetime) -> datetime:
    value = item.get("occurred_at")
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise _InvalidItemError("invalid", "occurred_at", _("An ISO 8601 date and time is required, e.g. 2026-05-01T09:30:00+08:00."))
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=local_zone())
    if parsed > now + FUTURE_TOLERANCE:
        raise _InvalidItemError("in_future", "occurred_at", _("The event cannot happen in the future."))
    return parsed


def _amount(item: dict[str, Any], kind: str) -> Decimal | None:
    value = item.get("amount")
    if kind != ActivityKind.PURCHASE:
        if value not in (None, ""):
            raise _InvalidItemError("not_allowed", "amount", _("Only purchases carry an amount."))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _InvalidItemError("required", "amount", _('A purchase needs an amount in yuan, e.g. "199.00".'))
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _InvalidItemError("invalid", "amount", _("The amount is not a number.")) from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("10000000000") or amount != amount.quantize(Decimal("0.01")):
        raise _InvalidItemError("invalid", "amount", _("The amount must be positive, in yuan with at most two decimals."))
    return amount


def _nps(item: dict[str, Any], kind: str) -> int | None:
    value = item.get("nps_score")
    if kind != ActivityKind.SURVEY:
        if value is not None:
            raise _InvalidItemError("not_allowed", "nps_score", _("Only survey answers carry an NPS score."))
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise _InvalidItemError("invalid", "nps_score", _("A survey answer needs an NPS score from 0 to 10."))
    return value


def _properties(item: dict[str, Any]) -> dict[str, Any]:
    value = item.get("properties")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _InvalidItemError("invalid", "properties", _("Properties must be an object of names and values."))
    if len(value) > MAX_PROPERTIES:
        raise _InvalidItemError("too_large", "properties", _("At most %(max)d properties per event.") % {"max": MAX_PROPERTIES})
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_PROPERTIES_BYTES:
        raise _InvalidItemError(
            "too_large", "properties", _("Properties may take at most %(max)d bytes as JSON.") % {"max": MAX_PROPERTIES_BYTES}
        )
    return value


def _client_ip(item: dict[str, Any]) -> str | None:
    value = item.get("client_ip")
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _InvalidItemError("invalid", "client_ip", _("An IPv4 or IPv6 address is required."))
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise _InvalidItemError("invalid", "client_ip", _("An IPv4 or IPv6 address is required.")) from None


def _resolve_members(items: list[Any]) -> tuple[dict[int, Member], dict[str, Member]]:
    ids = {i["member_id"] for i in items if isinstance(i, dict) and isinstance(i.get("member_id"), int)}
    external = {i["external_id"] for i in items if isinstance(i, dict) and isinstance(i.get("external_id"), str)}
    found = Member.objects.filter(Q(pk__in=ids) | Q(external_id__in=external)).only("pk", "external_id", "status")
    by_id = {m.pk: m for m in found}
    return by_id, {m.external_id: m for m in by_id.values() if m.external_id}


def _validate(
    item: Any, by_id: dict[int, Member], by_external: dict[str, Member], now: datetime, source: str, kinds: dict[str, KindCheck]
) -> ActivityEvent:
    if not isinstance(item, dict):
        raise _InvalidItemError("invalid", "item", _("Each event must be an object."))
    event_id = _text(item, "event_id", required=True, max_length=MAX_EVENT_ID_LENGTH)
    kind = item.get("kind")
    if kind not in ActivityKind.values and kind not in kinds:
        raise _InvalidItemError(
            "invalid",
            "kind",
            _("Unknown kind; one of: %(kinds)s, or a kind registered in the back office.") % {"kinds": ", ".join(ActivityKind.values)},
        )
    if item.get("member_id") is not None:
        member = by_id.get(item["member_id"]) if isinstance(item["member_id"], int) else None
        field_name = "member_id"
    else:
        member = by_external.get(item.get("external_id")) if isinstance(item.get("external_id"), str) else None
        field_name = "external_id" if item.get("external_id") is not None else "member_id"
    if member is None:
        raise _InvalidItemError("member_not_found", field_name, _("No member with this id."))
    channel = _text(item, "channel", required=False, max_length=20)
    if channel and channel not in ActivityChannel.values:
        raise _InvalidItemError(
            "invalid", "channel", _("Unknown channel; one of: %(channels)s.") % {"channels": ", ".join(ActivityChannel.values)}
        )
    properties = _properties(item)
    if kind in kinds:
        problem = property_problem(kinds[kind], properties)
        if problem is not None:
            raise _InvalidItemError("invalid_property", *problem)
    return ActivityEvent(
        member=member,
        kind=kind,
        event_id=event_id,
        source=source,
        occurred_at=_occurred_at(item, now),
        amount=_amount(item, kind),
        nps_score=_nps(item, kind),
        channel=channel,
        order_ref=_text(item, "order_ref", required=False, max_length=128),
        properties=properties,
        device_id=_text(item, "device_id", required=False, max_length=MAX_DEVICE_ID_LENGTH),
        client_ip=_client_ip(item),
    )


def source_of(client: ApiClient) -> str:
    return f"client:{client.pk}"


@transaction.atomic
def activity_ingest_batch(*, items: Any, client: ApiClient) -> IngestResult:
    """Validate and store up to MAX_BATCH events reported by ``client``; each is stored at most once.

    Invalid items are reported with their index, field and reason, and the valid ones are stored. The reactions registered
    for a newly stored event's kind run in this transaction (a purchase earns points and growth value for an active
    member); their points are in the item's answer. A retried event is a duplicate and earns nothing.
    """
    if not isinstance(items, list) or not items:
        raise ApplicationError("invalid_batch", _("Send a non-empty list of events."), fields={"events": "required"})
    if len(items) > config("MAX_BATCH"):
        raise ApplicationError(
            "batch_too_large", _("At most %(max)d events per batch.") % {"max": config("MAX_BATCH")}, fields={"events": len(items)}
        )
    now = timezone.now()
    source = source_of(client)
    by_id, by_external = _resolve_members(items)
    kinds = registered_kinds({item.get("kind") for item in items if isinstance(item, dict) and isinstance(item.get("kind"), str)})
    result = IngestResult()
    valid: list[tuple[int, ActivityEvent]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            event = _validate(item, by_id, by_external, now, source, kinds)
        except _InvalidItemError as problem:
            result.rejected += 1
            event_id = item.get("event_id") if isinstance(item, dict) else None
            result.items.append(
                {
                    "index": index,
                    "event_id": event_id,
                    "status": "rejected",
                    "code": problem.code,
                    "fields": {problem.field_name: problem.message},
                }
            )
            continue
        if event.event_id in seen:
            result.duplicates += 1
            result.items.append({"index": index, "event_id": event.event_id, "status": "duplicate"})
            continue
        seen.add(event.event_id)
        valid.append((index, event))
    # The guards (abuse control's velocity locks) go before the insert: a batch waiting for another on a shared device
    # gets its event ids after that batch's, and counts its committed events.
    with activity_batch([_incoming(event) for _index, event in valid]):
        stored = _insert_new([event for _index, event in valid])
        new = [(event, stored[event.event_id]) for _index, event in valid if event.event_id in stored]
        earned = _react(new, client=client)
    for index, event in valid:
        if event.event_id not in stored:
            result.duplicates += 1
            result.items.append({"index": index, "event_id": event.event_id, "status": "duplicate"})
            continue
        result.created += 1
        answer: dict[str, Any] = {"index": index, "event_id": event.event_id, "status": "created"}
        if has_activity_handlers(event.kind):
            points = earned.get(stored[event.event_id], 0)
            answer["points"] = points
            result.points_awarded += points
        result.items.append(answer)
    result.items.sort(key=lambda answer: answer["index"])
    return result


def _react(
    new: list[tuple[ActivityEvent, int]], *, client: ApiClient | None, rewarded: bool = True, earlier_events: bool = True
) -> dict[int, int]:
    """Run the reactions registered for newly stored events (with their row ids); the points earned by row id.

    ``earlier_events`` False: the members have no events stored before these, so their first of a kind is among them.
    """
    if not new or not activity_reactions_concern(event.kind for event, _pk in new):
        return {}
    if earlier_events:
        first_pk = _first_event_of_kind([(event.member_id, event.kind) for event, _pk in new])
    else:
        first_pk = {}
        for event, pk in new:
            key = (event.member_id, event.kind)
            first_pk[key] = min(pk, first_pk.get(key, pk))
    return activities_stored(
        [
            StoredActivity(
                pk=pk,
                member_id=event.member_id,
                kind=event.kind,
                event_id=event.event_id,
                source=event.source,
                occurred_at=event.occurred_at,
                amount=event.amount,
                first_of_kind=first_pk[(event.member_id, event.kind)] == pk,
                client=client,
                channel=event.channel,
                properties=event.properties,
                device_id=event.device_id,
                client_ip=event.client_ip,
                rewarded=rewarded,
            )
            for event, pk in new
        ]
    )


def _first_event_of_kind(pairs: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The row id of each member's first stored event of each kind: one query for the whole batch."""
    members = {member_id for member_id, _kind in pairs}
    kinds = {kind for _member_id, kind in pairs}
    firsts = ActivityEvent.objects.filter(member_id__in=members, kind__in=kinds).values_list("member_id", "kind").annotate(first=Min("pk"))
    return {(member_id, kind): first for member_id, kind, first in firsts}
