"""The award screen: which candidate awards of a batch to hold, and why (velocity limits, then the blocklist).

It reads only. Each active velocity limit costs one query per batch: the recent events of the batch's scope values,
from the earliest candidate's window start to the latest candidate. Each candidate is judged on its own sliding
window — the events of its scope value (and kind) in the ``window_minutes`` up to and including its own event, in
(occurred_at, id) order — so with a limit of N exactly N events in a window are paid and the one after is held. The
batch's own events are stored before the screen runs, so they count; a concurrent batch on a shared scope value waited
for this one's commit before storing its own (``velocity_scopes_lock``), so it counts this one's too.
"""

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.abuse.addresses import address_key, address_text
from apps.abuse.config import LimitSpec, ScreenConfig, active_blocks_q, screen_config
from apps.abuse.locks import lock_velocity_scopes
from apps.abuse.models import BlockEntry, BlockKind, Scope
from apps.analytics.models import ActivityEvent
from apps.core.activity import IncomingActivity
from apps.core.awards import CandidateAward

# The activity column each scope counts by.
SCOPE_COLUMN = {Scope.MEMBER: "member_id", Scope.DEVICE: "device_id", Scope.ADDRESS: "client_ip"}
_LAST_ID = 2**63


def _value(scope: str, member_id: int, device_id: str, client_ip: str | None) -> str | None:
    if scope == Scope.MEMBER:
        return str(member_id)
    if scope == Scope.DEVICE:
        return device_id or None
    return address_text(client_ip) if client_ip else None


def scope_value(scope: str, candidate: CandidateAward) -> str | None:
    """The value ``candidate`` is counted under for ``scope`` (None: the activity carries none)."""
    activity = candidate.activity
    return _value(scope, candidate.member_id, activity.device_id, activity.client_ip)


def velocity_scopes_lock(incoming: Sequence[IncomingActivity]) -> None:
    """The batch guard registered with apps.core.activity: before a batch is stored, lock every scope value an active
    limit will count it under (``lock_velocity_scopes``). Nothing configured: the one cache read, nothing locked."""
    config = screen_config()
    if not config.limits or not incoming:
        return
    scopes = set()
    for limit in config.limits:
        for event in incoming:
            if limit.kind and event.kind != limit.kind:
                continue
            value = _value(limit.scope, event.member_id, event.device_id, event.client_ip)
            if value is not None:
                scopes.add((limit.scope, value))
    lock_velocity_scopes(scopes=scopes)


def scope_label(scope: str, value: str) -> str:
    if scope == Scope.MEMBER:
        return _("member %(value)s") % {"value": value}
    if scope == Scope.DEVICE:
        return _("device %(value)s") % {"value": value}
    return _("address %(value)s") % {"value": value}


def limit_reason(limit: LimitSpec, value: str, count: int) -> str:
    """ "device d-123: 31 sign_in events in 10 minutes, limit 20"."""
    text = (
        _("%(who)s: %(count)s %(kind)s events in %(minutes)s minutes, limit %(limit)s")
        if limit.kind
        else _("%(who)s: %(count)s events in %(minutes)s minutes, limit %(limit)s")
    )
    return text % {
        "who": scope_label(limit.scope, value),
        "count": count,
        "kind": limit.kind,
        "minutes": limit.window_minutes,
        "limit": limit.max_events,
    }


def _velocity(candidates: Sequence[CandidateAward], limit: LimitSpec, held: dict[int, list[str]]) -> None:
    window = timedelta(minutes=limit.window_minutes)
    judged = []
    for index, candidate in enumerate(candidates):
        if limit.kind and candidate.activity.kind != limit.kind:
            continue
        value = scope_value(limit.scope, candidate)
        if value is not None:
            judged.append((index, candidate, value))
    if not judged:
        return
    column = SCOPE_COLUMN[limit.scope]
    values = {value for _index, _candidate, value in judged}
    if limit.scope == Scope.ADDRESS:  # an IPv4 address may have been stored in its IPv4-mapped IPv6 spelling
        values |= {f"::ffff:{value}" for value in values if ":" not in value}
    events = ActivityEvent.objects.filter(
        **{f"{column}__in": values},
        occurred_at__gt=min(c.occurred_at for _i, c, _v in judged) - window,
        occurred_at__lte=max(c.occurred_at for _i, c, _v in judged),
    )
    if limit.kind:
        events = events.filter(kind=limit.kind)
    seen: defaultdict[str, list[tuple[object, int]]] = defaultdict(list)
    for value, occurred_at, pk in events.values_list(column, "occurred_at", "id"):
        key = address_text(value) if limit.scope == Scope.ADDRESS else str(value)
        seen[key].append((occurred_at, pk))
    for timeline in seen.values():
        timeline.sort()
    for index, candidate, value in judged:
        timeline = seen.get(value, [])
        # Events up to and including this one, minus those at or before the window's start.
        count = bisect_right(timeline, (candidate.occurred_at, candidate.activity.pk)) - bisect_right(
            timeline, (candidate.occurred_at - window, _LAST_ID)
        )
        if count > limit.max_events:
            held.setdefault(index, []).append(limit_reason(limit, value, count))


def _blocked(candidates: Sequence[CandidateAward], config: ScreenConfig, held: dict[int, list[str]]) -> None:
    members = {c.member_id for c in candidates}
    devices = {c.activity.device_id for c in candidates if c.activity.device_id}
    addresses = {c.activity.client_ip: address_key(c.activity.client_ip) for c in candidates if c.activity.client_ip}
    wanted = Q(pk__in=[])
    if BlockKind.MEMBER in config.blocked_kinds:
        wanted |= Q(kind=BlockKind.MEMBER, member_id__in=members)
    if BlockKind.DEVICE in config.blocked_kinds and devices:
        wanted |= Q(kind=BlockKind.DEVICE, device_id__in=devices)
    if BlockKind.ADDRESS in config.blocked_kinds and addresses:
        keys = {key for key in addresses.values() if key}
        wanted |= Q(kind=BlockKind.ADDRESS, is_network=False, range_start__in=keys) | Q(kind=BlockKind.ADDRESS, is_network=True)
    entries = list(
        BlockEntry.objects.filter(active_blocks_q(timezone.now()))
        .filter(wanted)
        .order_by("pk")
        .values("kind", "member_id", "device_id", "network", "range_start", "range_end", "reason")
    )
    if not entries:
        return
    by_member = {e["member_id"]: e for e in reversed(entries) if e["kind"] == BlockKind.MEMBER}
    by_device = {e["device_id"]: e for e in reversed(entries) if e["kind"] == BlockKind.DEVICE}
    ranges = [e for e in entries if e["kind"] == BlockKind.ADDRESS]
    for index, candidate in enumerate(candidates):
        reasons = []
        if entry := by_member.get(candidate.member_id):
            reasons.append(_("blocked member %(value)s: %(reason)s") % {"value": candidate.member_id, "reason": entry["reason"]})
        if entry := by_device.get(candidate.activity.device_id or None):
            reasons.append(_("blocked device %(value)s: %(reason)s") % {"value": candidate.activity.device_id, "reason": entry["reason"]})
        key = addresses.get(candidate.activity.client_ip) if candidate.activity.client_ip else None
        if key and (entry := next((e for e in ranges if e["range_start"] <= key <= e["range_end"]), None)):
            reasons.append(
                _("blocked address %(value)s (%(network)s): %(reason)s")
                % {"value": candidate.activity.client_ip, "network": entry["network"], "reason": entry["reason"]}
            )
        if reasons:
            held.setdefault(index, []).extend(reasons)


def abuse_screen(candidates: Sequence[CandidateAward]) -> Mapping[int, str]:
    """Registered with apps.core.awards: ``{index: reason}`` for every candidate to hold (several reasons joined)."""
    if not candidates:
        return {}
    config = screen_config()
    if config.empty:
        return {}
    held: dict[int, list[str]] = {}
    for limit in config.limits:
        _velocity(candidates, limit, held)
    if config.blocked_kinds:
        _blocked(candidates, config, held)
    return {index: "; ".join(reasons) for index, reasons in sorted(held.items())}
