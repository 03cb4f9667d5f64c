"""Segment conditions on badges and tasks, registered into the campaigns' condition registry from EngagementConfig.ready().

Each is a ``pk IN (subquery)``, so a segment stays one SQL query: "has badge" reads the member's issued grants of a badge
or title (a revoked or expired one no longer counts); "completed task" reads task completions in any window.
"""

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy

from apps.benefits.models import STATUS_MARK_KINDS, Benefit, Grant, GrantState
from apps.campaigns.conditions import _choices, register_condition
from apps.engagement.models import Task, TaskCompletion


def _badge_choices() -> list[tuple[str, Any]]:
    return [(str(pk), name) for pk, name in Benefit.objects.filter(kind__in=STATUS_MARK_KINDS).order_by("name").values_list("pk", "name")]


def _task_choices() -> list[tuple[str, Any]]:
    return [(task.code, task.title) for task in Task.objects.order_by("title")]


@register_condition("has_badge", label=gettext_lazy("Has badge or title"), operators=("any", "none"), choices=_badge_choices)
def _has_badge(operator: str, value: Any, path: str = "has_badge") -> Q:
    ids = [int(pk) for pk in _choices(value, path, [pk for pk, _name in _badge_choices()])]
    holders = Q(pk__in=Grant.objects.filter(benefit_id__in=ids, state=GrantState.ISSUED).values("member_id"))
    return ~holders if operator == "none" else holders


@register_condition("completed_task", label=gettext_lazy("Completed task"), operators=("any", "none"), choices=_task_choices)
def _completed_task(operator: str, value: Any, path: str = "completed_task") -> Q:
    codes = _choices(value, path, list(Task.objects.values_list("code", flat=True)))
    done = Q(pk__in=TaskCompletion.objects.filter(task__code__in=codes).values("member_id"))
    return ~done if operator == "none" else done
