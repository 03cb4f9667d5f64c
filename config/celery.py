import logging
import os
from typing import Any

from celery import Celery, Task
from celery.signals import task_failure

from apps.core.errors import ApplicationError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
logger = logging.getLogger("userops.tasks")


class BoundedTask(Task):
    """Every task: retried with exponential back-off on an unexpected error, at most ``max_retries`` times.

    A domain refusal (ApplicationError) is an answer, not a fault, and is never retried. After the last
    retry the failure is kept as a FailedTask row that staff see in the back office and can queue again.
    """

    autoretry_for = (Exception,)
    dont_autoretry_for = (ApplicationError,)
    max_retries = int(os.environ.get("USEROPS_TASK_MAX_RETRIES", "3"))
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True


app = Celery("userops", task_cls=BoundedTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_failure.connect
def record_failed_task(
    sender: Task | None = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    kwargs: Any = None,
    einfo: Any = None,
    **extra: Any,
) -> None:
    """A task failed for good (Celery sends this only after the last retry): keep it for staff."""
    if isinstance(exception, ApplicationError) or sender is None or task_id is None:
        return
    from apps.core.services import failed_task_record

    try:
        failed_task_record(
            task_id=task_id,
            task_name=sender.name,
            args=args,
            kwargs=kwargs,
            exception=f"{type(exception).__name__}: {exception}",
            traceback=str(einfo or ""),
            retries=getattr(sender.request, "retries", 0) or 0,
        )
    except Exception:  # the failure is still in the worker's log; recording it must never mask it
        logger.exception("could not record failed task %s", task_id)
