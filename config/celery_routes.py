"""Celery queues by workload, so a long bulk job never delays what a member or a caller is waiting for.

- ``interactive``: side-effects of API calls and staff actions that someone notices within seconds — messages,
  webhooks, failed-task retries, anything not listed below (a new task is interactive until it is placed here).
- ``bulk``: set-based work over many members — campaign and journey runs, imports, expiry, tier evaluation,
  recurring grants.
- ``analytics``: roll-ups and scoring, which read much and may run long.

``make run`` runs one worker on all three; production runs a pool per queue (docs/operations.md).
"""

from typing import Any

INTERACTIVE, BULK, ANALYTICS = "interactive", "bulk", "analytics"
QUEUES = (INTERACTIVE, BULK, ANALYTICS)

# Task names are "<app>.<task>"; a task's own entry wins over its app's.
QUEUE_BY_APP = {
    "campaigns": BULK,
    "journeys": BULK,
    "imports": BULK,
    "benefits": BULK,
    "tagging": BULK,
    "analytics": ANALYTICS,
}
QUEUE_BY_TASK = {
    "members.expire_points": BULK,
    "members.evaluate_tiers": BULK,
    "core.purge_idempotency_records": BULK,
    "core.maintain_partitions": BULK,
    "events.mark_no_shows": BULK,
    "imports.purge_files": INTERACTIVE,
}


def queue_for(task_name: str) -> str:
    if task_name in QUEUE_BY_TASK:
        return QUEUE_BY_TASK[task_name]
    return QUEUE_BY_APP.get(task_name.split(".", 1)[0], INTERACTIVE)


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any) -> dict[str, str]:
    return {"queue": queue_for(name)}
