"""What each step kind needs, checked before a version is saved, and when a wait ends.

A step arrives as a kind and the flat values of the step form (``StepSpec``); ``step_clean`` checks them against the
kind and returns the step's stored settings, or raises ``ApplicationError`` naming the step and its field
(``fields={"step_<position>.<field>": …}``), so the journey page puts the message on that step's field.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.models import ActivityKind, RegisteredActivityKind
from apps.benefits.models import Benefit, BenefitStatus
from apps.campaigns.conditions import compile_rules
from apps.campaigns.models import Segment
from apps.core.errors import ApplicationError
from apps.journeys.models import BranchCondition, StepKind
from apps.lifecycle.models import JourneyStage, LifecycleStage
from apps.members.models import ConsentChannel, Tier
from apps.messaging.models import MessagePurpose, MessageTemplate

MAX_STEPS = 30
MAX_WAIT_DAYS = 365
MAX_POINTS = 1_000_000
MAX_TAG_LENGTH = 50
TIME_FORMAT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class StepSpec:
    """One step as the journey page (or a caller) gives it: its kind, its values, and where a branch goes on."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    yes_next: int | None = None
    no_next: int | None = None


def _refuse(position: int, kind_label: Any, name: str, message: str) -> ApplicationError:
    return ApplicationError(
        "invalid_step",
        _("Step %(position)d (%(kind)s), %(field)s: %(message)s")
        % {"position": position, "kind": kind_label, "field": name, "message": message},
        fields={f"step_{position}.{name}": ""},
    )


def known_activity_kind(kind: str) -> bool:
    return kind in ActivityKind.values or RegisteredActivityKind.objects.filter(code=kind).exists()


def _int(raw: Any, position: int, label: Any, name: str, *, low: int, high: int, required: bool = True) -> int | None:
    if raw in (None, ""):
        if required:
            raise _refuse(position, label, name, _("this field is required."))
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise _refuse(position, label, name, _("enter a whole number.")) from None
    if not low <= value <= high:
        raise _refuse(position, label, name, _("must be between %(low)d and %(high)d.") % {"low": low, "high": high})
    return value


def _text(values: dict[str, Any], name: str) -> str:
    raw = values.get(name)
    return "" if raw is None else str(raw).strip()


def _list(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list | tuple) else str(raw or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _wait(position: int, label: Any, values: dict[str, Any]) -> dict[str, Any]:
    weekday = values.get("weekday")
    if weekday not in (None, ""):
        day = _int(weekday, position, label, "weekday", low=0, high=6)
        at = _text(values, "at_time")
        if not TIME_FORMAT.match(at):
            raise _refuse(position, label, "at_time", _("give the time of day as HH:MM (24-hour)."))
        return {"weekday": day, "time": at}
    days = _int(values.get("days"), position, label, "days", low=0, high=MAX_WAIT_DAYS, required=False) or 0
    hours = _int(values.get("hours"), position, label, "hours", low=0, high=23, required=False) or 0
    if days == 0 and hours == 0:
        raise _refuse(position, label, "days", _("give a duration (days and/or hours) or a weekday and time."))
    return {"days": days, "hours": hours}


def _branch(position: int, label: Any, values: dict[str, Any]) -> dict[str, Any]:
    condition = _text(values, "condition")
    if condition not in BranchCondition.values:
        raise _refuse(position, label, "condition", _("choose a condition."))
    chosen = _list(values.get("value"))
    if not chosen:
        raise _refuse(position, label, "value", _("give the value the condition checks."))
    allowed: set[str] | None = None
    if condition == BranchCondition.ACTIVITY:
        unknown = [kind for kind in chosen if not known_activity_kind(kind)]
        if unknown:
            raise _refuse(position, label, "value", _("unknown activity kind %(kind)s.") % {"kind": unknown[0]})
    elif condition == BranchCondition.TIER:
        allowed = set(Tier.objects.values_list("code", flat=True))
    elif condition == BranchCondition.JOURNEY_STAGE:
        allowed = set(JourneyStage.values)
    elif condition == BranchCondition.LIFECYCLE_STAGE:
        allowed = set(LifecycleStage.values)
    elif condition == BranchCondition.CONSENT:
        allowed = set(ConsentChannel.values)
    else:
        segment = Segment.objects.filter(pk=chosen[0]).first() if chosen[0].isdigit() else None
        if segment is None:
            raise _refuse(position, label, "value", _("give the id of an existing segment."))
        compile_rules(segment.rules)
        chosen = [str(segment.pk)]
    if allowed is not None:
        unknown = [value for value in chosen if value not in allowed]
        if unknown:
            raise _refuse(
                position,
                label,
                "value",
                _("%(value)s is not one of: %(allowed)s.") % {"value": unknown[0], "allowed": ", ".join(sorted(allowed))},
            )
    return {"condition": condition, "values": chosen}


def _message(position: int, label: Any, values: dict[str, Any]) -> dict[str, Any]:
    code, channel = _text(values, "template_code"), _text(values, "channel")
    purpose = _text(values, "purpose") or MessagePurpose.MARKETING
    if channel not in ConsentChannel.values:
        raise _refuse(position, label, "channel", _("choose a channel."))
    if purpose not in MessagePurpose.values:
        raise _refuse(position, label, "purpose", _("choose marketing or service."))
    if not MessageTemplate.objects.filter(code=code, channel=channel, is_active=True).exists():
        raise _refuse(
            position,
            label,
            "template_code",
            _("no active %(channel)s template with the code “%(code)s”.") % {"channel": channel, "code": code},
        )
    return {"template_code": code, "channel": channel, "purpose": purpose}


def _benefit(position: int, label: Any, values: dict[str, Any]) -> dict[str, Any]:
    raw = values.get("benefit")
    benefit_id = getattr(raw, "pk", raw)
    benefit = Benefit.objects.filter(pk=benefit_id).first() if str(benefit_id or "").isdigit() else None
    if benefit is None:
        raise _refuse(position, label, "benefit", _("choose a benefit."))
    if benefit.status != BenefitStatus.ACTIVE:
        raise _refuse(position, label, "benefit", _("the benefit %(name)s is not active.") % {"name": benefit.name})
    return {"benefit_id": benefit.pk}


def _points(position: int, label: Any, values: dict[str, Any]) -> dict[str, Any]:
    amount = _int(values.get("points"), position, label, "points", low=1, high=MAX_POINTS)
    valid_days = _int(values.get("valid_days"), position, label, "valid_days", low=1, high=3650, required=False)
    return {"amount": amount, "valid_days": valid_days}


def _tag(position: int, label: Any, values: dict[str, Any]) -> dict[str, Any]:
    tag = _text(values, "tag")
    if not tag or len(tag) > MAX_TAG_LENGTH:
        raise _refuse(position, label, "tag", _("give a tag of 1 to %(max)d characters.") % {"max": MAX_TAG_LENGTH})
    return {"tag": tag}


CLEANERS = {
    StepKind.WAIT: _wait,
    StepKind.BRANCH: _branch,
    StepKind.MESSAGE: _message,
    StepKind.BENEFIT: _benefit,
    StepKind.POINTS: _points,
    StepKind.TAG: _tag,
    StepKind.EXIT: lambda position, label, values: {},
}


def steps_clean(specs: list[StepSpec]) -> list[tuple[str, dict[str, Any], int | None, int | None]]:
    """Each step's (kind, settings, yes_next, no_next), checked; a branch may only jump forward, within the journey."""
    if not specs:
        raise ApplicationError("steps_required", _("A journey needs at least one step."), fields={"step_1.kind": ""})
    if len(specs) > MAX_STEPS:
        raise ApplicationError("too_many_steps", _("A journey has at most %(max)d steps.") % {"max": MAX_STEPS}, fields={"step_1.kind": ""})
    cleaned = []
    for position, spec in enumerate(specs, start=1):
        if spec.kind not in StepKind.values:
            raise _refuse(position, "?", "kind", _("choose a step kind."))
        label = StepKind(spec.kind).label
        params = CLEANERS[spec.kind](position, label, spec.values)
        yes_next = no_next = None
        if spec.kind == StepKind.BRANCH:
            high = len(specs)
            yes_next = _int(spec.yes_next, position, label, "yes_next", low=position + 1, high=high, required=False)
            no_next = _int(spec.no_next, position, label, "no_next", low=position + 1, high=high, required=False)
        cleaned.append((spec.kind, params, yes_next, no_next))
    return cleaned


def wait_until(params: dict[str, Any], arrived_at: datetime) -> datetime:
    """When a wait that starts at ``arrived_at`` ends: after its duration, or at the next weekday and time (local)."""
    if "weekday" not in params:
        return arrived_at + timedelta(days=params["days"], hours=params["hours"])
    local = timezone.localtime(arrived_at)
    hour, minute = (int(part) for part in params["time"].split(":"))
    days_ahead = (params["weekday"] - local.weekday()) % 7
    candidate = timezone.make_aware(datetime.combine(local.date() + timedelta(days=days_ahead), time(hour, minute)), local.tzinfo)
    if candidate <= local:
        candidate = timezone.make_aware(datetime.combine(local.date() + timedelta(days=days_ahead + 7), time(hour, minute)), local.tzinfo)
    return candidate
