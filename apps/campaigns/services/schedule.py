"""A campaign's definition and its place in beat: validation (actions, trigger, cron), save, scheduling, the
periodic-task sync that keeps beat's entry in step with the campaign, and the schedule slot a tick is for.

The status helpers here are shared with the run transitions (``runs``): every status change goes through
``campaign_status_set`` so beat's entry follows it.
"""

import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.benefits.models import BenefitStatus
from apps.campaigns.locks import lock_campaign
from apps.campaigns.models import CAMPAIGN_TRANSITION_FROM, Campaign, CampaignStatus, ScheduleKind
from apps.campaigns.selectors import BUILT_IN_TRIGGERS, TRIGGER_WINDOWS
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.saving import edited_fields_save
from apps.messaging.models import MessageTemplate

# The task beat's entries name; entries stored in the database refer to it, so it never changes.
LAUNCH_TASK = "campaigns.launch"
OPEN_STATUSES = {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED}
# Moved only by the campaign's transitions and its schedule.
CAMPAIGN_SERVICE_FIELDS = ("status", "triggers_since", "periodic_task")


def _cron_fields(expression: str) -> list[str]:
    fields = expression.split()
    if len(fields) != 5:
        raise ApplicationError(
            "invalid_cron", _("A cron expression has five fields: minute hour day month weekday."), fields={"cron": expression}
        )
    return fields


def campaign_validate(*, campaign: Campaign) -> None:
    """Raise ApplicationError unless the campaign has an action it can take and one way to be started."""
    if not campaign.points_amount and not campaign.message_template_code and campaign.benefit_id is None:
        raise ApplicationError("no_action", _("A campaign needs at least one action: a benefit, points or a message."))
    if campaign.benefit_id is not None and campaign.benefit.status != BenefitStatus.ACTIVE:
        raise ApplicationError("benefit_not_active", _("The benefit to grant is not active."), fields={"benefit": campaign.benefit_id})
    if campaign.message_template_code:
        if not campaign.message_channel:
            raise ApplicationError("message_channel_required", _("Choose the message's channel."), fields={"message_channel": ""})
        if not MessageTemplate.objects.filter(
            code=campaign.message_template_code, channel=campaign.message_channel, is_active=True
        ).exists():
            raise ApplicationError(
                "template_not_found", _("No active template with this code for this channel."), fields={"message_template_code": ""}
            )
    kind = campaign.schedule_kind
    if campaign.trigger and campaign.trigger not in BUILT_IN_TRIGGERS and campaign.trigger not in TRIGGER_WINDOWS:
        raise ApplicationError(
            "trigger_unavailable", _("Nothing reports this trigger's events in this installation."), fields={"trigger": campaign.trigger}
        )
    if campaign.trigger and kind != ScheduleKind.MANUAL:
        raise ApplicationError(
            "trigger_with_schedule",
            _("A campaign acts either on a schedule or on a trigger, not both."),
            fields={"trigger": campaign.trigger},
        )
    if kind == ScheduleKind.ONCE and campaign.run_at is None:
        raise ApplicationError("run_at_required", _("A one-off campaign needs a time to run."), fields={"run_at": None})
    if kind == ScheduleKind.INTERVAL and not campaign.interval_minutes:
        raise ApplicationError("interval_required", _("An interval campaign needs its interval."), fields={"interval_minutes": None})
    if kind == ScheduleKind.CRON:
        _cron_fields(campaign.cron)


def _schedule_of(campaign: Campaign) -> dict[str, Any]:
    schedule: dict[str, Any] = {"clocked": None, "interval": None, "crontab": None, "one_off": False}
    if campaign.schedule_kind == ScheduleKind.ONCE:
        schedule["clocked"] = ClockedSchedule.objects.get_or_create(clocked_time=campaign.run_at)[0]
        schedule["one_off"] = True
    elif campaign.schedule_kind == ScheduleKind.INTERVAL:
        schedule["interval"] = IntervalSchedule.objects.get_or_create(every=campaign.interval_minutes, period=IntervalSchedule.MINUTES)[0]
    else:
        minute, hour, day, month, weekday = _cron_fields(campaign.cron)
        schedule["crontab"] = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday, timezone=settings.TIME_ZONE
        )[0]
    return schedule


def _sync_periodic_task(campaign: Campaign) -> None:
    """Make beat's entry match the campaign: present while it has a schedule, enabled only while scheduled."""
    task = campaign.periodic_task
    if campaign.schedule_kind == ScheduleKind.MANUAL:
        if task is not None:
            campaign.periodic_task = None
            campaign.save(update_fields=["periodic_task", "updated_at"])
            task.delete()
        return
    task = task or PeriodicTask(name=f"campaign:{campaign.pk}")
    for field, value in _schedule_of(campaign).items():
        setattr(task, field, value)
    task.task = LAUNCH_TASK
    task.kwargs = json.dumps({"campaign_id": campaign.pk})
    task.description = campaign.name
    task.enabled = campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
    task.save()
    if campaign.periodic_task_id != task.pk:
        campaign.periodic_task = task
        campaign.save(update_fields=["periodic_task", "updated_at"])


def campaign_require_status(*, campaign: Campaign, allowed: set[str], action: str) -> None:
    if campaign.status not in allowed:
        raise ApplicationError(
            "invalid_status",
            _("A %(status)s campaign cannot be %(action)s.") % {"status": campaign.get_status_display(), "action": action},
            http_status=409,
        )


def campaign_status_set(*, campaign: Campaign, status: str, actor: User | None) -> Campaign:
    """Move a locked campaign to ``status``; beat's entry follows (enabled only while scheduled or running)."""
    campaign.status = status
    campaign._history_user = actor
    campaign.save(update_fields=["status", "updated_at"])
    _sync_periodic_task(campaign)
    return campaign


@transaction.atomic
def campaign_save(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    """Create or edit a campaign (not once it is running, completed or cancelled); beat follows its schedule.

    An edit writes only what the form edits: the status, the trigger window and beat's entry belong to the
    campaign's transitions, which may have moved while the form was open.
    """
    campaign._history_user = actor
    if campaign.pk:
        stored = lock_campaign(campaign_id=campaign.pk)
        campaign_require_status(campaign=stored, allowed=OPEN_STATUSES, action=_("edited"))
        campaign_validate(campaign=campaign)
        edited_fields_save(instance=campaign, locked=stored, service_owned=CAMPAIGN_SERVICE_FIELDS)
    else:
        campaign_validate(campaign=campaign)
        campaign.save()
    _sync_periodic_task(campaign)
    return campaign


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    campaign = lock_campaign(campaign_id=campaign.pk)
    campaign_require_status(campaign=campaign, allowed=CAMPAIGN_TRANSITION_FROM["schedule"], action=_("scheduled"))
    if campaign.schedule_kind == ScheduleKind.MANUAL and not campaign.trigger:
        raise ApplicationError("no_schedule", _("The campaign has no schedule; launch it instead."), fields={"schedule_kind": "manual"})
    campaign_validate(campaign=campaign)
    if campaign.trigger:
        campaign.triggers_since = timezone.now()
        campaign.save(update_fields=["triggers_since", "updated_at"])
    return campaign_status_set(campaign=campaign, status=CampaignStatus.SCHEDULED, actor=actor)


def campaign_schedule_slot(*, campaign: Campaign, now: datetime | None = None) -> datetime | None:
    """The schedule slot a beat tick at ``now`` is for: the minute for cron, the interval's bucket, the one-off time.

    Two beat processes (by mistake) or a redelivered tick land in the same slot, and a slot runs once.
    """
    now = now or timezone.now()
    if campaign.schedule_kind == ScheduleKind.ONCE:
        return campaign.run_at
    if campaign.schedule_kind == ScheduleKind.INTERVAL and campaign.interval_minutes:
        period = campaign.interval_minutes * 60
        return datetime.fromtimestamp(int(now.timestamp()) // period * period, tz=UTC)
    if campaign.schedule_kind == ScheduleKind.CRON:
        return now.astimezone(UTC).replace(second=0, microsecond=0)
    return None
