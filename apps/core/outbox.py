"""The transactional outbox: services record what happened in their own transaction, deliverers drain it later.

A service that changes something another system cares about calls ``outbox_emit(...)`` (one event) or
``outbox_emit_many(...)`` (a set, one INSERT) inside its transaction. The row commits or rolls back with the
change, so a receiver never hears of a change that did not happen and never misses one that did.

Nothing is written for a type nobody subscribes to. Which types have subscribers is answered by the sources
registered here (the webhooks app registers its active endpoints in ``AppConfig.ready()``), kept in the shared
cache (Redis or the database cache, never per-process memory) and forgotten by ``outbox_subscriptions_changed()``
when a subscriber changes, so the write path pays one cache read when nobody listens.
"""

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import ApiScope, OutboxEvent


class EventType(models.TextChoices):
    """Every event a subscriber may choose; docs/webhooks.md documents each one's payload."""

    MEMBER_ENROLLED = "member.enrolled", _("Member enrolled")
    MEMBER_UPDATED = "member.updated", _("Member updated")
    MEMBER_ANONYMISED = "member.anonymised", _("Member anonymised")
    POINTS_EARNED = "points.earned", _("Points earned")
    POINTS_SPENT = "points.spent", _("Points spent")
    POINTS_EXPIRED = "points.expired", _("Points expired")
    POINTS_ADJUSTED = "points.adjusted", _("Points adjusted")
    POINTS_REVERSED = "points.reversed", _("Points reversed")
    TIER_CHANGED = "tier.changed", _("Tier changed")
    GRANT_ISSUED = "grant.issued", _("Benefit grant issued")
    GRANT_REDEEMED = "grant.redeemed", _("Benefit grant redeemed")
    GRANT_REVOKED = "grant.revoked", _("Benefit grant revoked")
    REGISTRATION_CHANGED = "registration.changed", _("Event registration changed")
    REGISTRATION_CHECKED_IN = "registration.checked_in", _("Checked in at an event")
    CAMPAIGN_RUN_STEP = "campaign.run_step", _("Campaign run step")
    JOURNEY_STEP = "journey.step", _("Journey step")
    FEEDBACK_STATUS_CHANGED = "feedback.status_changed", _("Feedback status changed")


# The read scopes an API client needs to subscribe to each event type: those of what the event carries. Every event
# about one member (its points, tier, grants, registrations, journey steps, feedback) is member data; a campaign run
# step carries only the run's totals.
EVENT_TYPE_READ_SCOPES: dict[str, tuple[str, ...]] = {
    **{event_type: (ApiScope.MEMBERS_READ,) for event_type in EventType.values if event_type != EventType.CAMPAIGN_RUN_STEP},
    EventType.CAMPAIGN_RUN_STEP: (ApiScope.ANALYTICS_READ,),
}


def event_types_missing_scopes(*, event_types: Iterable[str], scopes: Iterable[str]) -> dict[str, list[str]]:
    """For each of ``event_types`` whose read scopes ``scopes`` lack: the scopes it lacks (an empty answer: none)."""
    held = set(scopes)
    missing = {
        event_type: [scope for scope in EVENT_TYPE_READ_SCOPES.get(event_type, ()) if scope not in held] for event_type in event_types
    }
    return {event_type: lacking for event_type, lacking in missing.items() if lacking}


SUBSCRIBED_TYPES_CACHE_KEY = "outbox:subscribed-types:v1"
# A safety net only: every change of a subscriber forgets the cached set at once.
SUBSCRIBED_TYPES_TTL = 300

# A source answers the event types some active subscriber wants.
SubscriptionSource = Callable[[], Iterable[str]]
SUBSCRIPTION_SOURCES: list[SubscriptionSource] = []

# (type, member id or None, payload); the payload is plain JSON: ids, amounts, codes, times as ISO text.
Event = tuple[str, int | None, dict[str, Any]]


def register_subscription_source(source: SubscriptionSource) -> None:
    if source not in SUBSCRIPTION_SOURCES:
        SUBSCRIPTION_SOURCES.append(source)


def outbox_subscribed_types() -> frozenset[str]:
    """The event types at least one active subscriber wants (from the shared cache)."""
    types = cache.get(SUBSCRIBED_TYPES_CACHE_KEY)
    if types is None:
        types = sorted({event_type for source in SUBSCRIPTION_SOURCES for event_type in source()})
        cache.set(SUBSCRIBED_TYPES_CACHE_KEY, types, SUBSCRIBED_TYPES_TTL)
    return frozenset(types)


def outbox_subscriptions_changed() -> None:
    """Forget the cached types now and again when the current transaction commits (no process keeps a stale set)."""
    cache.delete(SUBSCRIBED_TYPES_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(SUBSCRIBED_TYPES_CACHE_KEY))


def outbox_emit(*, type: str, data: dict[str, Any], member_id: int | None = None, occurred_at: datetime | None = None) -> None:
    """Record one event in the current transaction, if anyone subscribes to ``type``."""
    if type in outbox_subscribed_types():
        _insert([(type, member_id, data)], occurred_at or timezone.now())


def outbox_emit_many(*, events: Iterable[Event], types: Iterable[str] | None = None, occurred_at: datetime | None = None) -> int:
    """Record a set of events in one statement; returns how many were written.

    ``events`` may be a generator: it is not even iterated when none of ``types`` (the types it can yield) has a
    subscriber, so a caller pays nothing for building payloads nobody wants.
    """
    rows = outbox_wanted(events=events, types=types)
    _insert(rows, occurred_at or timezone.now())
    return len(rows)


def outbox_wanted(*, events: Iterable[Event], types: Iterable[str] | None = None) -> list[Event]:
    """The events of ``events`` some subscriber wants; ``events`` is not iterated when none of ``types`` is wanted."""
    wanted = outbox_subscribed_types()
    if not wanted or (types is not None and wanted.isdisjoint(types)):
        return []
    return [event for event in events if event[0] in wanted]


def outbox_insert_statement(*, events: list[Event], occurred_at: datetime, payload: str = "p") -> tuple[str, list[Any]]:
    """The PostgreSQL ``INSERT`` that records ``events`` (from ``outbox_wanted``), with its parameters.

    For a write path that runs it inside a statement of its own (``WITH outbox AS (<this>) UPDATE …``), so the event
    costs no round trip and still commits or rolls back with the change. Rows are numbered in the order given.
    ``payload`` is the SQL of each stored payload, ``p`` being the one given: the statement may add what only it
    knows, such as the id of a row it inserts in another of its CTEs.
    """
    table = connection.ops.quote_name(OutboxEvent._meta.db_table)
    sql = (
        f"INSERT INTO {table} (event_id, type, member_id, occurred_at, payload, created_at)"  # noqa: S608 (our table)
        f" SELECT e, t, m, %s, {payload}, %s"
        " FROM unnest(%s::uuid[], %s::text[], %s::bigint[], %s::jsonb[]) WITH ORDINALITY AS x(e, t, m, p, n) ORDER BY n"
    )
    params = [
        occurred_at,
        timezone.now(),
        [uuid.uuid4() for _event in events],
        [str(kind) for kind, _member, _data in events],
        [member for _kind, member, _data in events],
        [json.dumps(data, cls=DjangoJSONEncoder) for _kind, _member, data in events],
    ]
    return sql, params


def _insert(events: list[Event], occurred_at: datetime) -> None:
    if not events:
        return
    if connection.vendor != "postgresql":
        now = timezone.now()
        OutboxEvent.objects.bulk_create(
            [OutboxEvent(event_id=uuid.uuid4(), type=kind, member_id=member, occurred_at=occurred_at, payload=data, created_at=now)
             for kind, member, data in events]
        )  # fmt: skip
        return
    # One statement, whatever the number of events, and no model instances.
    with connection.cursor() as cursor:
        cursor.execute(*outbox_insert_statement(events=events, occurred_at=occurred_at))


def outbox_claim(*, limit: int) -> list[OutboxEvent]:
    """The oldest ``limit`` events no other transaction holds, locked (``FOR UPDATE SKIP LOCKED``) until the caller's
    transaction ends; the caller hands them on and deletes them in that transaction."""
    return list(OutboxEvent.objects.select_for_update(skip_locked=True).order_by("pk")[:limit])


def outbox_delete(*, ids: list[int]) -> None:
    OutboxEvent.objects.filter(pk__in=ids).delete()
