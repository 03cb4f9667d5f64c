"""The payload of the campaign-run step event (docs/webhooks.md): one event per chunk of a run, never per member."""

from collections.abc import Iterator

from apps.campaigns.models import CampaignRun
from apps.core.outbox import Event, EventType


def run_step_event(run: CampaignRun, member_ids: list[int]) -> Iterator[Event]:
    if run.dry_run:
        return
    yield (
        EventType.CAMPAIGN_RUN_STEP,
        None,
        {
            "campaign_id": run.campaign_id,
            "run_id": run.pk,
            "status": str(run.status),
            "chunk_members": len(member_ids),
            "chunk_first_member_id": member_ids[0] if member_ids else None,
            "chunk_last_member_id": member_ids[-1] if member_ids else None,
            "processed": run.processed,
            "acted": run.acted,
            "failed": run.failed,
            "points_awarded": run.points_awarded,
            "messages_queued": run.messages_queued,
            "cost": str(run.cost),
        },
    )
