from celery import shared_task

from apps.feedback import services


@shared_task(name="feedback.escalate_overdue")
def escalate_overdue() -> int:
    """Overdue feedback becomes urgent (safe to run again: an item is escalated once)."""
    return services.feedback_escalate_overdue()
