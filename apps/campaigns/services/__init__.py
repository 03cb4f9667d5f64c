"""Campaigns' services, split by concern; callers import the public names from here.

- ``segments``: saving a segment, freezing and unfreezing its snapshot.
- ``schedule``: a campaign's validation and save, scheduling it, beat's periodic task and the slot a tick is for.
- ``runs``: launch, pause, resume, cancel; executing a run chunk by chunk; stalled runs; trigger runs.
- ``referrals``: referral codes, attaching a referee, qualifying and rewarding.
"""

from apps.campaigns.services.referrals import (
    referral_attach,
    referral_code_for,
    referral_qualify,
    referral_qualify_on_first_purchase,
    referrers_paid_on_first_purchase,
)
from apps.campaigns.services.runs import (
    campaign_cancel,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_run_execute,
    campaign_runs_resume_stalled,
    campaign_triggers_process,
)
from apps.campaigns.services.schedule import campaign_save, campaign_schedule, campaign_schedule_slot
from apps.campaigns.services.segments import segment_freeze, segment_save, segment_unfreeze

__all__ = [
    "campaign_cancel",
    "campaign_launch",
    "campaign_pause",
    "campaign_resume",
    "campaign_run_execute",
    "campaign_runs_resume_stalled",
    "campaign_save",
    "campaign_schedule",
    "campaign_schedule_slot",
    "campaign_triggers_process",
    "referral_attach",
    "referral_code_for",
    "referral_qualify",
    "referral_qualify_on_first_purchase",
    "referrers_paid_on_first_purchase",
    "segment_freeze",
    "segment_save",
    "segment_unfreeze",
]
