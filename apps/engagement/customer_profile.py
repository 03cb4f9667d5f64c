"""Engagement's part of the customer profile: task completions and sign-ins on the timeline, badges as a section."""

from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.engagement.models import SignIn, TaskCompletion
from apps.engagement.selectors import member_badges
from apps.members.models import Member
from apps.members.profile_sections import register_profile_section, restrict_profile_section
from apps.members.timeline import (
    TimelineItem,
    TimelineRow,
    Translated,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)

BADGES_SHOWN = 20


def task_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    link_to = object_links("admin:engagement_taskcompletion_change")
    return [
        row.item(
            kind="task_completed",
            title=_("Task completed: %(task)s") % {"task": row["task"]},
            detail=_("%(points)d points, %(growth)d growth value") % {"points": row["points"], "growth": row["growth"]},
            link=link_to(row.item_id),
            data={"points": row["points"], "growth": row["growth"]},
        )
        for row in rows
    ]


def sign_in_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    return [
        row.item(
            kind="sign_in",
            title=_("Signed in (streak of %(days)d days)") % {"days": row["streak"]},
            data={"streak": row["streak"]},
        )
        for row in rows
    ]


def badges_summary(member: Member) -> list[dict[str, Any]]:
    return [
        {"badge": str(grant.benefit), "since": date_format(timezone.localtime(grant.issued_at), "SHORT_DATE_FORMAT")}
        for grant in member_badges(member=member)[:BADGES_SHOWN]
    ]


def register() -> None:
    register_timeline_source(
        name="tasks",
        label=gettext_lazy("Tasks"),
        rows=lambda member: TaskCompletion.objects.filter(member_id=member.pk),
        time_field="completed_at",
        columns={"task": Translated("task__title"), "points": "points", "growth": "growth"},
        items=task_items,
    )
    restrict_timeline_source(name="tasks", permission="engagement.view_taskcompletion", shown_to_member=True)
    register_timeline_source(
        name="sign_ins",
        label=gettext_lazy("Sign-ins"),
        rows=lambda member: SignIn.objects.filter(member_id=member.pk),
        time_field="signed_in_at",
        columns={"streak": "streak"},
        items=sign_in_items,
    )
    restrict_timeline_source(name="sign_ins", permission="engagement.view_signin", shown_to_member=True)
    register_profile_section(
        name="badges", label=gettext_lazy("Badges"), summary=badges_summary, template="admin/engagement/profile_badges.html", order=60
    )
    restrict_profile_section(name="badges", permission="benefits.view_grant")
