from celery import shared_task

from apps.journeys import services


@shared_task(name="journeys.tick", acks_late=True, reject_on_worker_lost=True)
def tick() -> dict[int, int]:
    """Beat's minute: every running journey's entries, due steps and exits (a tick that dies is redone by the next)."""
    return {journey_id: result.processed for journey_id, result in services.journeys_tick_all().items()}


@shared_task(name="journeys.tick_journey", acks_late=True, reject_on_worker_lost=True)
def tick_journey(journey_id: int) -> int:
    return services.journey_tick(journey_id=journey_id).processed
