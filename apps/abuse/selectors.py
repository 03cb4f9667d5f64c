"""Reads of abuse control: who is over (or close to) a velocity limit lately, and a member's blocklist entries."""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.abuse.addresses import address_key, address_text
from apps.abuse.config import active_blocks_q
from apps.abuse.models import BlockEntry, BlockKind, Scope, VelocityLimit
from apps.abuse.screen import SCOPE_COLUMN
from apps.analytics.models import ActivityEvent

# "Close to a limit": at least this share of the allowed events in one window.
CLOSE_SHARE = 0.8
PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_VALUES_PER_LIMIT = 100


@dataclass(frozen=True)
class SuspiciousValue:
    """One scope value's worst window under one limit within the period, as plain values for the page."""

    limit_id: int
    limit_name: str
    scope: str
    scope_label: str
    kind: str
    value: str
    peak: int
    max_events: int
    window_minutes: int
    events_in_period: int
    last_seen: datetime
    over: bool
    blocked: bool


def _peak(times: list[datetime], window: timedelta) -> int:
    """The most events inside any window of this length (events at or before a window's start are outside it)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _blocked_values(scope: str, values: list[str]) -> set[str]:
    entries = BlockEntry.objects.filter(active_blocks_q())
    if scope == Scope.MEMBER:
        return {
            str(pk)
            for pk in entries.filter(kind=BlockKind.MEMBER, member_id__in=[int(v) for v in values]).values_list("member_id", flat=True)
        }
    if scope == Scope.DEVICE:
        return set(entries.filter(kind=BlockKind.DEVICE, device_id__in=values).values_list("device_id", flat=True))
    ranges = list(entries.filter(kind=BlockKind.ADDRESS).values_list("range_start", "range_end"))
    return {value for value in values if (key := address_key(value)) and any(start <= key <= end for start, end in ranges)}


def suspicious_values(*, period: str = "hour", now: datetime | None = None) -> list[SuspiciousValue]:
    """Scope values whose busiest window in the last hour or day reached ``CLOSE_SHARE`` of an active limit (and at least
    two events), worst first.

    Two queries per active limit: the values with enough events in the period at all, then their event times.
    """
    now = now or timezone.now()
    since = now - PERIODS[period]
    found: list[SuspiciousValue] = []
    for limit in VelocityLimit.objects.filter(active=True).order_by("pk"):
        window = timedelta(minutes=limit.window_minutes)
        threshold = max(2, math.ceil(limit.max_events * CLOSE_SHARE))  # one event alone is never suspicious
        column = SCOPE_COLUMN[limit.scope]
        events = ActivityEvent.objects.filter(occurred_at__gt=since, occurred_at__lte=now)
        events = events.exclude(device_id="") if limit.scope == Scope.DEVICE else events
        events = events.filter(client_ip__isnull=False) if limit.scope == Scope.ADDRESS else events
        if limit.kind:
            events = events.filter(kind=limit.kind)
        grouped = events.values(column).annotate(n=Count("id")).filter(n__gte=threshold).order_by("-n")
        busy = dict(grouped.values_list(column, "n")[:MAX_VALUES_PER_LIMIT])
        if not busy:
            continue
        timelines: defaultdict[str, list[datetime]] = defaultdict(list)
        for value, at in (
            events.filter(**{f"{column}__in": list(busy)}).order_by(column, "occurred_at", "id").values_list(column, "occurred_at")
        ):
            timelines[str(value)].append(at)
        rows = []
        for value, times in timelines.items():
            peak = _peak(times, window)
            if peak >= threshold:
                shown = address_text(value) if limit.scope == Scope.ADDRESS else value
                rows.append((shown, peak, len(times), times[-1]))
        blocked = _blocked_values(limit.scope, [row[0] for row in rows]) if rows else set()
        scope_label = str(Scope(limit.scope).label)
        for value, peak, total, last_seen in rows:
            found.append(
                SuspiciousValue(
                    limit_id=limit.pk,
                    limit_name=limit.name,
                    scope=limit.scope,
                    scope_label=scope_label,
                    kind=limit.kind,
                    value=value,
                    peak=peak,
                    max_events=limit.max_events,
                    window_minutes=limit.window_minutes,
                    events_in_period=total,
                    last_seen=last_seen,
                    over=peak > limit.max_events,
                    blocked=value in blocked,
                )
            )
    found.sort(key=lambda row: (not row.over, -row.peak / row.max_events, row.limit_name, row.value))
    return found


def member_blocks(*, member_id: int) -> QuerySet[BlockEntry]:
    return BlockEntry.objects.filter(kind=BlockKind.MEMBER, member_id=member_id).select_related("created_by").order_by("-created_at", "-pk")


def member_is_blocked(*, member_id: int) -> bool:
    return BlockEntry.objects.filter(active_blocks_q(), kind=BlockKind.MEMBER, member_id=member_id).exists()
