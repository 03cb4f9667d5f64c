from celery import shared_task

from apps.core import partitions, services


@shared_task(name="core.purge_idempotency_records")
def purge_idempotency_records() -> int:
    return services.idempotency_records_purge()


@shared_task(name="core.maintain_partitions")
def maintain_partitions() -> int:
    """Create the coming months' partitions and archive those past retention (nightly); how many were changed."""
    return len(partitions.partitions_maintain())
