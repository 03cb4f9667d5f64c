"""Merging duplicate members: task progress, completions and sign-ins move to the survivor."""

from apps.engagement.models import SignIn, TaskCompletion, TaskProgress
from apps.members.merging import reassign, register_member_merger
from apps.members.models import Member


def move_engagement(survivor: Member, merged: Member) -> dict[str, int]:
    # A task window or a day both members already count keeps the survivor's row; the merged member's stays as its record.
    return {
        "task_progress": reassign(TaskProgress, survivor=survivor, merged=merged, unique_with=["task", "window_start"]),
        "task_completions": reassign(TaskCompletion, survivor=survivor, merged=merged, unique_with=["task", "window_start"]),
        "sign_ins": reassign(SignIn, survivor=survivor, merged=merged, unique_with=["day"]),
    }


def register() -> None:
    register_member_merger(name="engagement", move=move_engagement)
