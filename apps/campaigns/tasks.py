import logging

from celery import shared_task

from apps.campaigns import services
from apps.campaigns.models import Campaign
from apps.core.errors import ApplicationError

logger = logging.getLogger("userops.campaigns")


@shared_task(name="campaigns.launch")
def launch(campaign_id: int) -> int | None:
    """Beat's entry for a scheduled campaign; a tick that finds it paused, still running or its slot taken is skipped."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return None
    try:
        return services.campaign_launch(campaign=campaign, scheduled_for=services.campaign_schedule_slot(campaign=campaign)).pk
    except ApplicationError as exc:
        logger.info("campaign %s not launched: %s", campaign_id, exc)
        return None


@shared_task(name="campaigns.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> int:
    return services.campaign_run_execute(run_id=run_id).processed


@shared_task(name="campaigns.resume_stalled")
def resume_stalled() -> list[int]:
    return services.campaign_runs_resume_stalled()


@shared_task(name="campaigns.process_triggers")
def process_triggers() -> list[int]:
    return services.campaign_triggers_process()
