"""Segment conditions on the two stages, registered into the campaigns' condition registry from LifecycleConfig.ready().

A member without a stage row yet (enrolled since the last nightly staging, no journey event) counts as a prospect
and as new, in that stage since joining — what the staging will give them — so a segment never misses them.
"""

from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.campaigns.conditions import _choices, _days, register_condition
from apps.lifecycle.models import JourneyStage, LifecycleStage, MemberStage

WITHOUT_STAGE_ROW = ~Exists(MemberStage.objects.filter(member_id=OuterRef("pk")))


def _in_stages(field: str, default: str, operator: str, values: list[str]) -> Q:
    chosen = Q(pk__in=MemberStage.objects.filter(**{f"{field}__in": values}).values("member_id"))
    if default in values:
        chosen |= Q(WITHOUT_STAGE_ROW)
    return ~chosen if operator == "not_in" else chosen


def _in_stage_since(field: str, days: int) -> Q:
    cutoff = timezone.now() - timedelta(days=days)
    return Q(pk__in=MemberStage.objects.filter(**{f"{field}__lte": cutoff}).values("member_id")) | Q(
        WITHOUT_STAGE_ROW, joined_at__lte=cutoff
    )


@register_condition("journey_stage", label=gettext_lazy("Journey stage"), operators=("in", "not_in"), choices=lambda: JourneyStage.choices)
def _journey_stage(operator: str, value: Any, path: str = "journey_stage") -> Q:
    return _in_stages("journey_stage", JourneyStage.PROSPECT, operator, _choices(value, path, JourneyStage.values))


@register_condition(
    "lifecycle_stage", label=gettext_lazy("Lifecycle stage"), operators=("in", "not_in"), choices=lambda: LifecycleStage.choices
)
def _lifecycle_stage(operator: str, value: Any, path: str = "lifecycle_stage") -> Q:
    return _in_stages("lifecycle_stage", LifecycleStage.NEW, operator, _choices(value, path, LifecycleStage.values))


@register_condition(
    "journey_stage_days", label=gettext_lazy("In the journey stage for at least (days)"), operators=("gte",), value_kind="number"
)
def _journey_stage_days(operator: str, value: Any, path: str = "journey_stage_days") -> Q:
    return _in_stage_since("journey_stage_since", _days(value, path))


@register_condition(
    "lifecycle_stage_days", label=gettext_lazy("In the lifecycle stage for at least (days)"), operators=("gte",), value_kind="number"
)
def _lifecycle_stage_days(operator: str, value: Any, path: str = "lifecycle_stage_days") -> Q:
    return _in_stage_since("lifecycle_stage_since", _days(value, path))
