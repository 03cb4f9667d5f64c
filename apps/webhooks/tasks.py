from celery import shared_task

from apps.webhooks import services


@shared_task(name="webhooks.dispatch")
def dispatch() -> dict[str, int]:
    """Every minute (beat): the outbox into deliveries, then every due delivery posted; safe to overlap."""
    return services.webhooks_dispatch()
