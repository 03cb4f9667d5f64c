from dataclasses import asdict

from celery import shared_task

from apps.messaging import services

MAX_BATCHES_PER_RUN = 200


@shared_task(name="messaging.send_due")
def send_due(batch_size: int = 500) -> dict[str, int]:
    """Drain due messages batch by batch; the next beat tick picks up whatever is left."""
    total = services.SendSummary()
    for _batch in range(MAX_BATCHES_PER_RUN):
        summary = services.messages_send_due(batch_size=batch_size)
        for field, value in asdict(summary).items():
            setattr(total, field, getattr(total, field) + value)
        if summary.processed < batch_size:
            break
    return asdict(total)
