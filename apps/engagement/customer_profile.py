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
    TimelineCursor,
    TimelineItem,
    newest_rows,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)

BADGES_SHOWN = 20


def task_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    completions = newest_rows(
        TaskCompletion.objects.filter(member_id=member.pk).select_related("task"),
        name="tasks",
        before=before,
        limit=limit,
        time_field="completed_at",
    )
    link_to = object_links("admin:engagement_taskcompletion_change")
    return [
        TimelineItem(
            at=completion.completed_at,
            source="tasks",
            item_id=completion.pk,
            kind="task_completed",
            title=_("Task completed: %(task)s") % {"task": completion.task.title},
            detail=_("%(points)d points, %(growth)d growth value") % {"points": completion.points, "growth": completion.growth},
            link=link_to(completion.pk),
            data={"points": completion.points, "growth": completion.growth},
        )
        for completion in completions
    ]


def sign_in_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    sign_ins = newest_rows(
        SignIn.objects.filter(member_id=member.pk), name="sign_ins", before=before, limit=limit, time_field="signed_in_at"
    )
    return [
        TimelineItem(
            at=sign_in.signed_in_at,
            source="sign_ins",
            item_id=sign_in.pk,
            kind="sign_in",
            title=_("Signed in (streak of %(days)d days)") % {"days": sign_in.streak},
            data={"streak": sign_in.streak},
        )
        for sign_in in sign_ins
    ]


def badges_summary(member: Member) -> list[dict[str, Any]]:
    return [
        {"badge": str(grant.benefit), "since": date_format(timezone.localtime(grant.issued_at), "SHORT_DATE_FORMAT")}
        for grant in member_badges(member=member)[:BADGES_SHOWN]
    ]


def register() -> None:
    register_timeline_source(name="tasks", label=gettext_lazy("Tasks"), fetch=task_items)
    restrict_timeline_source(name="tasks", permission="engagement.view_taskcompletion", shown_to_member=True)
    register_timeline_source(name="sign_ins", label=gettext_lazy("Sign-ins"), fetch=sign_in_items)
    restrict_timeline_source(name="sign_ins", permission="engagement.view_signin", shown_to_member=True)
    register_profile_section(
        name="badges", label=gettext_lazy("Badges"), summary=badges_summary, template="admin/engagement/profile_badges.html", order=60
    )
    restrict_profile_section(name="badges", permission="benefits.view_grant")
