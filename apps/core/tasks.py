from celery import shared_task

from apps.core import services


@shared_task(name="core.purge_idempotency_records")
def purge_idempotency_records() -> int:
    return services.idempotency_records_purge()
