"""Every lock this app takes. In the product's order (docs/architecture.md) a task's progress rows come first —
only this app's batch handler locks them — then the reward benefits, then members and their points accounts."""

from collections.abc import Iterable

from django.db.models import Q

from apps.engagement.models import TaskProgress


def lock_task_progress(*, keys: Iterable[tuple[int, int, object]]) -> list[TaskProgress]:
    """The progress rows of (task, member, window_start) keys, locked in key order by one statement."""
    keys = list(keys)
    if not keys:
        return []
    match = Q()
    for task_id, member_id, window_start in keys:
        match |= Q(task_id=task_id, member_id=member_id, window_start=window_start)
    return list(TaskProgress.objects.select_for_update().filter(match).order_by("pk"))
