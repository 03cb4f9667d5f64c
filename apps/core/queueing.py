"""The one hand-off from services to Celery: a task is queued by its registered name once the transaction commits.

Services never import tasks modules (tasks import services), so they name the task instead; the name is the
stable part anyway (beat's entries in the database and failed-task records refer to it). Sending after commit
means a worker never looks for rows that are not there yet, and a rolled-back transaction queues nothing.
"""

from typing import Any

from celery import current_app
from django.db import transaction


def enqueue_on_commit(task_name: str, *args: Any, kwargs: dict[str, Any] | None = None, task_id: str | None = None) -> None:
    """Queue ``task_name`` with these arguments when the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: current_app.send_task(task_name, args=list(args), kwargs=kwargs or {}, task_id=task_id))
