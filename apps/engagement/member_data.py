"""Tasks and sign-ins in a member's data export (PIPL); badges are grants, exported by benefits."""

from typing import Any

from apps.engagement.models import SignIn, TaskCompletion, TaskProgress
from apps.members.models import Member
from apps.members.personal_data import register_member_data_section


def member_task_progress(member: Member) -> list[dict[str, Any]]:
    rows = TaskProgress.objects.filter(member=member).select_related("task").order_by("id")
    return [
        {
            "task": row.task.code,
            "window_start": row.window_start,
            "progress": row.value,
            "longest_streak": row.best_streak,
            "completed_at": row.completed_at,
        }
        for row in rows
    ]


def member_task_completions(member: Member) -> list[dict[str, Any]]:
    rows = TaskCompletion.objects.filter(member=member).select_related("task").order_by("id")
    return [
        {
            "task": row.task.code,
            "window_start": row.window_start,
            "completed_at": row.completed_at,
            "points": row.points,
            "growth": row.growth,
        }
        for row in rows
    ]


def member_sign_ins(member: Member) -> list[dict[str, Any]]:
    return [
        {"day": day, "streak": streak} for day, streak in SignIn.objects.filter(member=member).order_by("day").values_list("day", "streak")
    ]


def register() -> None:
    register_member_data_section(name="task_progress", collect=member_task_progress)
    register_member_data_section(name="task_completions", collect=member_task_completions)
    register_member_data_section(name="sign_ins", collect=member_sign_ins)
