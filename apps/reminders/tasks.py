from dataclasses import asdict

from celery import shared_task

from apps.reminders import services


@shared_task(name="reminders.send_due")
def send_due() -> dict[str, int]:
    """Queue today's expiry reminders (safe to run again: each reminder has its dedupe key)."""
    return asdict(services.reminders_send_due())
