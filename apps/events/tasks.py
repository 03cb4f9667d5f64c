from celery import shared_task

from apps.events import services


@shared_task(name="events.mark_no_shows")
def mark_no_shows() -> int:
    return services.events_mark_no_shows()


@shared_task(name="events.send_reminders")
def send_reminders() -> int:
    return services.events_send_reminders()
