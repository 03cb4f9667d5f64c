"""What a rule says, as plain values, and the checks every path shares: the ingest's batch handler, the simulation over
stored activity and the "why did (or didn't) this member earn" page all decide with these functions, so they agree.

Nothing here queries the database: member conditions (tier, segment, tags) are answered by the caller with one query
per rule per batch, and cap counters are loaded and stored by the caller.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.activity import StoredActivity
from apps.rules.models import CAP_PERIODS, CapPeriod, EarningRule

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists")
LIFETIME_START = date(2000, 1, 1)


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class RuleSpec:
    """An earning rule as the evaluation reads it (a snapshot: rules are cached per process between edits)."""

    id: int
    name: str
    kind: str
    priority: int
    starts_at: datetime | None
    ends_at: datetime | None
    days_of_week: tuple[int, ...]
    hour_from: int | None
    hour_to: int | None
    property_conditions: tuple[dict[str, Any], ...]
    channels: tuple[str, ...]
    first_time_only: bool
    nth_time: int | None
    points: int
    growth: int
    unit_property: str
    unit_size: Decimal
    benefit_id: int | None
    tier_ids: frozenset[int]
    tag_ids: frozenset[int]
    segment_id: int | None
    multipliers: dict[int, Decimal] = field(default_factory=dict)
    caps: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)  # period → (count, points)
    budget_points: int | None = None

    @property
    def has_member_conditions(self) -> bool:
        return bool(self.tier_ids or self.tag_ids or self.segment_id)

    @property
    def has_caps(self) -> bool:
        return bool(self.caps)

    @classmethod
    def of(cls, rule: EarningRule) -> "RuleSpec":
        """Reads the rule's tiers, tags and multipliers (prefetch them when building many)."""
        caps = {}
        for period in CAP_PERIODS:
            count, points = getattr(rule, f"cap_{period}_count"), getattr(rule, f"cap_{period}_points")
            if count is not None or points is not None:
                caps[str(period)] = (count, points)
        return cls(
            id=rule.pk,
            name=rule.name,
            kind=rule.kind,
            priority=rule.priority,
            starts_at=rule.starts_at,
            ends_at=rule.ends_at,
            days_of_week=tuple(rule.days_of_week or ()),
            hour_from=rule.hour_from,
            hour_to=rule.hour_to,
            property_conditions=tuple(rule.property_conditions or ()),
            channels=tuple(rule.channels or ()),
            first_time_only=rule.first_time_only,
            nth_time=rule.nth_time,
            points=rule.points,
            growth=rule.growth,
            unit_property=rule.unit_property,
            unit_size=rule.unit_size,
            benefit_id=rule.benefit_id,
            tier_ids=frozenset(tier.pk for tier in rule.tiers.all()),
            tag_ids=frozenset(tag.pk for tag in rule.tags.all()),
            segment_id=rule.segment_id,
            multipliers={m.tier_id: m.multiplier for m in rule.multipliers.all()},
            caps=caps,
            budget_points=rule.budget_points,
        )


# Conditions on the activity ----------------------------------------------------------------------


def activity_value(activity: StoredActivity, name: str) -> Any:
    """A property of the event; ``amount`` is the event's amount when it has one."""
    if name == "amount" and activity.amount is not None:
        return activity.amount
    return (activity.properties or {}).get(name)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def condition_holds(condition: dict[str, Any], activity: StoredActivity) -> bool:
    op, expected = condition.get("op", "eq"), condition.get("value")
    actual = activity_value(activity, condition.get("property", ""))
    if op == "exists":
        return actual is not None if expected in (None, True) else actual is None
    if actual is None:
        return False
    if op == "in":
        return isinstance(expected, list) and (actual in expected or str(actual) in [str(v) for v in expected])
    if op in ("eq", "ne"):
        left, right = _number(actual), _number(expected)
        same = left == right if left is not None and right is not None else str(actual) == str(expected)
        return same if op == "eq" else not same
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def describe_condition(condition: dict[str, Any]) -> str:
    labels = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": _("is one of"), "exists": _("is present")}
    op = condition.get("op", "eq")
    if op == "exists":
        return f"{condition.get('property')} {labels[op]}"
    return f"{condition.get('property')} {labels.get(op, op)} {condition.get('value')}"


def activity_check(spec: RuleSpec, activity: StoredActivity, *, nth: int | None = None) -> str | None:
    """Why the rule does not apply to the activity (its own conditions, the member's aside), or None when it does.

    ``nth`` is the activity's ordinal among the member's activities of its kind (needed only for Nth-time rules).
    """
    at = activity.occurred_at
    if activity.kind != spec.kind:
        return _("The activity is of another kind.")
    if spec.starts_at and at < spec.starts_at:
        return _("The activity happened before the rule's start.")
    if spec.ends_at and at >= spec.ends_at:
        return _("The activity happened after the rule's end.")
    local = at.astimezone(local_zone())
    if spec.days_of_week and local.isoweekday() not in spec.days_of_week:
        return _("Not on one of the rule's days of the week.")
    if spec.hour_from is not None and local.hour < spec.hour_from:
        return _("Before the rule's hours.")
    if spec.hour_to is not None and local.hour >= spec.hour_to:
        return _("After the rule's hours.")
    if spec.channels and activity.channel not in spec.channels:
        return _("The channel %(channel)s is not one of the rule's.") % {"channel": activity.channel or "-"}
    for condition in spec.property_conditions:
        if not condition_holds(condition, activity):
            return _("Condition not met: %(condition)s.") % {"condition": describe_condition(condition)}
    if spec.first_time_only and not activity.first_of_kind:
        return _("Not the member's first activity of this kind.")
    if spec.nth_time is not None and nth != spec.nth_time:
        return _("Not the member's %(n)dth activity of this kind (it is the %(nth)s).") % {"n": spec.nth_time, "nth": nth or "?"}
    if spec.unit_property and spec.benefit_id is None and award_amounts(spec, activity, tier_id=None) == (0, 0):
        return _("Less than one unit of %(property)s.") % {"property": spec.unit_property}
    return None


def member_check(spec: RuleSpec, *, tier_id: int, tag_ids: set[int] | None, in_segment: bool | None) -> str | None:
    """Why the member does not qualify (tier, tags, segment), or None. ``None`` answers mean "not asked"."""
    if spec.tier_ids and tier_id not in spec.tier_ids:
        return _("The member's tier is not one of the rule's.")
    if spec.tag_ids and tag_ids is not None and not (spec.tag_ids & tag_ids):
        return _("The member has none of the rule's tags.")
    if spec.segment_id and in_segment is False:
        return _("The member is not in the rule's segment.")
    return None


# Amounts -----------------------------------------------------------------------------------------


def award_amounts(spec: RuleSpec, activity: StoredActivity, *, tier_id: int | None) -> tuple[int, int]:
    """Points (× the tier's multiplier) and growth value for the activity, rounded down."""
    units = Decimal(1)
    if spec.unit_property:
        value = _number(activity_value(activity, spec.unit_property))
        if value is None or value <= 0:
            return 0, 0
        units = (value / spec.unit_size).to_integral_value(rounding=ROUND_DOWN)
    multiplier = spec.multipliers.get(tier_id, Decimal(1)) if tier_id is not None else Decimal(1)
    points = int((units * spec.points * multiplier).to_integral_value(rounding=ROUND_DOWN))
    growth = int((units * spec.growth).to_integral_value(rounding=ROUND_DOWN))
    return max(points, 0), max(growth, 0)


# Caps --------------------------------------------------------------------------------------------


def period_start(period: str, at: datetime) -> date:
    day = at.astimezone(local_zone()).date()
    if period == CapPeriod.DAY:
        return day
    if period == CapPeriod.WEEK:
        return day - timedelta(days=day.weekday())
    if period == CapPeriod.MONTH:
        return day.replace(day=1)
    return LIFETIME_START


CounterKey = tuple[int, int, str, date]  # rule, member, period, period start


def counter_keys(spec: RuleSpec, member_id: int, at: datetime) -> list[CounterKey]:
    return [(spec.id, member_id, period, period_start(period, at)) for period in spec.caps]


@dataclass
class Counter:
    count: int = 0
    points: int = 0


@dataclass
class CapState:
    """Cap counters and budgets as they stand, moved award by award in the order awards are decided."""

    counters: dict[CounterKey, Counter] = field(default_factory=dict)
    budget_left: dict[int, int | None] = field(default_factory=dict)
    touched: set[CounterKey] = field(default_factory=set)

    def take(self, spec: RuleSpec, member_id: int, at: datetime, points: int, growth: int) -> tuple[int, str | None]:
        """The points this award may pay (trimmed to what is left of a points cap or the budget), or 0 with why not.

        An award that pays nothing under a points cap or the budget still pays its growth value or benefit, if it has
        them; a count cap stops the whole award.
        """
        keys = counter_keys(spec, member_id, at)
        allowed = points
        for key in keys:
            count_cap, points_cap = spec.caps[key[2]]
            counter = self.counters.setdefault(key, Counter())
            if count_cap is not None and counter.count >= count_cap:
                return 0, _("Cap reached: %(cap)d per member per %(period)s.") % {"cap": count_cap, "period": CapPeriod(key[2]).label}
            if points_cap is not None:
                allowed = min(allowed, max(points_cap - counter.points, 0))
        budget = self.budget_left.get(spec.id)
        if budget is not None:
            allowed = min(allowed, max(budget, 0))
        if points and not allowed and not growth and spec.benefit_id is None:
            if budget is not None and budget <= 0:
                return 0, _("The rule's points budget is spent.")
            return 0, _("Points cap reached for this period.")
        for key in keys:
            counter = self.counters[key]
            counter.count += 1
            counter.points += allowed
            self.touched.add(key)
        if budget is not None:
            self.budget_left[spec.id] = budget - allowed
        return allowed, None
