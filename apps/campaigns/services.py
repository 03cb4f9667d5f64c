"""Segments, campaigns and their runs.

Locks: a campaign row before its runs. A run works chunk by chunk (members in id order); each chunk is one
transaction that records the chunk's CampaignAction rows, applies the actions set-based, and moves the
run's cursor and numbers — so a worker that dies loses at most an uncommitted chunk, and the retry resumes
at the cursor. The (run, member) unique constraint keeps the effect exactly-once even if two workers race.
"""

import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.benefits.locks import lock_benefit
from apps.benefits.models import Benefit, BenefitStatus, GrantSource
from apps.benefits.services import grants_issue_bulk
from apps.campaigns.conditions import compile_rules
from apps.campaigns.locks import lock_campaign, lock_run, lock_segment
from apps.campaigns.models import (
    CAMPAIGN_TRANSITION_FROM,
    ActionOutcome,
    Campaign,
    CampaignAction,
    CampaignRun,
    CampaignStatus,
    Referral,
    ReferralCode,
    ReferralState,
    RunStatus,
    ScheduleKind,
    Segment,
    SegmentMember,
    Trigger,
)
from apps.campaigns.selectors import BUILT_IN_TRIGGERS, TRIGGER_WINDOWS, run_members, segment_members, segment_query_guard
from apps.core.activity import activity_happened
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.reasons import Reason, translated_param
from apps.core.saving import edited_fields_save
from apps.members.locks import lock_members, lock_points_accounts
from apps.members.models import Member, MemberStatus
from apps.members.selectors import points_cost
from apps.members.services import points_earn, points_earn_bulk
from apps.messaging.models import MessagePurpose, MessageTemplate
from apps.messaging.services import messages_enqueue_bulk

logger = logging.getLogger("userops.campaigns")


def _config(key: str) -> Any:
    return settings.USEROPS_CAMPAIGNS[key]


# Segments ---------------------------------------------------------------------------------------


# Written only by freezing and unfreezing the snapshot.
SEGMENT_SNAPSHOT_FIELDS = ("frozen_at", "frozen_count")


@transaction.atomic
def segment_save(*, segment: Segment, actor: User | None = None) -> Segment:
    compile_rules(segment.rules)
    segment._history_user = actor
    if not segment.pk:
        segment.save()
        return segment
    stored = lock_segment(segment_id=segment.pk)
    if stored.is_frozen and stored.rules != segment.rules:
        raise ApplicationError("segment_frozen", _("A frozen segment's rules cannot change; unfreeze it first."), http_status=409)
    edited_fields_save(instance=segment, locked=stored, service_owned=SEGMENT_SNAPSHOT_FIELDS)
    return segment


@transaction.atomic
def segment_freeze(*, segment: Segment) -> Segment:
    """Copy the members matching the rules now into the segment's snapshot (one INSERT … SELECT)."""
    segment = lock_segment(segment_id=segment.pk)
    if segment.is_frozen:
        raise ApplicationError("segment_frozen", _("The segment is already frozen."), http_status=409)
    sql, params = segment_members(segment=segment).order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO campaigns_segmentmember (segment_id, member_id) SELECT %s, matched.pk FROM ({sql}) AS matched",  # noqa: S608
            [segment.pk, *params],
        )
        segment.frozen_count = cursor.rowcount
    segment.frozen_at = timezone.now()
    segment.save(update_fields=["frozen_at", "frozen_count", "updated_at"])
    return segment


@transaction.atomic
def segment_unfreeze(*, segment: Segment) -> Segment:
    segment = lock_segment(segment_id=segment.pk)
    if not segment.is_frozen:
        raise ApplicationError("segment_not_frozen", _("The segment is not frozen."), http_status=409)
    SegmentMember.objects.filter(segment=segment).delete()
    segment.frozen_at = segment.frozen_count = None
    segment.save(update_fields=["frozen_at", "frozen_count", "updated_at"])
    return segment


# Campaigns --------------------------------------------------------------------------------------

OPEN_STATUSES = {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED}


def _cron_fields(expression: str) -> list[str]:
    fields = expression.split()
    if len(fields) != 5:
        raise ApplicationError(
            "invalid_cron", _("A cron expression has five fields: minute hour day month weekday."), fields={"cron": expression}
        )
    return fields


def _validate(campaign: Campaign) -> None:
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
    task.task = "campaigns.launch"
    task.kwargs = json.dumps({"campaign_id": campaign.pk})
    task.description = campaign.name
    task.enabled = campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
    task.save()
    if campaign.periodic_task_id != task.pk:
        campaign.periodic_task = task
        campaign.save(update_fields=["periodic_task", "updated_at"])


def _lock(campaign: Campaign) -> Campaign:
    return lock_campaign(campaign_id=campaign.pk)


def _require(campaign: Campaign, allowed: set[str], action: str) -> None:
    if campaign.status not in allowed:
        raise ApplicationError(
            "invalid_status",
            _("A %(status)s campaign cannot be %(action)s.") % {"status": campaign.get_status_display(), "action": action},
            http_status=409,
        )


# Moved only by the campaign's transitions and its schedule.
CAMPAIGN_SERVICE_FIELDS = ("status", "triggers_since", "periodic_task")


@transaction.atomic
def campaign_save(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    """Create or edit a campaign (not once it is running, completed or cancelled); beat follows its schedule.

    An edit writes only what the form edits: the status, the trigger window and beat's entry belong to the
    campaign's transitions, which may have moved while the form was open.
    """
    campaign._history_user = actor
    if campaign.pk:
        stored = _lock(campaign)
        _require(stored, OPEN_STATUSES, _("edited"))
        _validate(campaign)
        edited_fields_save(instance=campaign, locked=stored, service_owned=CAMPAIGN_SERVICE_FIELDS)
    else:
        _validate(campaign)
        campaign.save()
    _sync_periodic_task(campaign)
    return campaign


def _set_status(campaign: Campaign, status: str, actor: User | None) -> Campaign:
    campaign.status = status
    campaign._history_user = actor
    campaign.save(update_fields=["status", "updated_at"])
    _sync_periodic_task(campaign)
    return campaign


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    campaign = _lock(campaign)
    _require(campaign, CAMPAIGN_TRANSITION_FROM["schedule"], _("scheduled"))
    if campaign.schedule_kind == ScheduleKind.MANUAL and not campaign.trigger:
        raise ApplicationError("no_schedule", _("The campaign has no schedule; launch it instead."), fields={"schedule_kind": "manual"})
    _validate(campaign)
    if campaign.trigger:
        campaign.triggers_since = timezone.now()
        campaign.save(update_fields=["triggers_since", "updated_at"])
    return _set_status(campaign, CampaignStatus.SCHEDULED, actor)


def _queue_run(run: CampaignRun) -> None:
    # Imported here because the tasks module imports this one.
    from apps.campaigns.tasks import execute_run

    transaction.on_commit(lambda: execute_run.delay(run.pk))


def _unfinished_run(campaign: Campaign) -> CampaignRun | None:
    return campaign.runs.filter(dry_run=False, status__in=[RunStatus.PENDING, RunStatus.RUNNING]).first()


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


@transaction.atomic
def campaign_launch(
    *, campaign: Campaign, dry_run: bool = False, actor: User | None = None, scheduled_for: datetime | None = None
) -> CampaignRun:
    """Start a run now (staff, or beat on schedule with its slot). A dry run counts without acting, in any open status."""
    campaign = _lock(campaign)
    if scheduled_for is not None and campaign.runs.filter(scheduled_for=scheduled_for).exists():
        raise ApplicationError("slot_already_run", _("This scheduled run has already started."), http_status=409)
    if dry_run:
        _require(campaign, CAMPAIGN_TRANSITION_FROM["dry_run"], _("dry-run"))
    else:
        _require(campaign, CAMPAIGN_TRANSITION_FROM["launch"], _("launched"))
        if campaign.trigger:
            raise ApplicationError(
                "trigger_campaign", _("A trigger campaign acts when its event happens; schedule it instead."), http_status=409
            )
        if _unfinished_run(campaign) is not None:
            raise ApplicationError("run_in_progress", _("The campaign's previous run has not finished."), http_status=409)
        _validate(campaign)
        _set_status(campaign, CampaignStatus.RUNNING, actor)
    with segment_query_guard():
        targeted = segment_members(segment=campaign.segment).count()
    run = CampaignRun.objects.create(
        campaign=campaign, dry_run=dry_run, scheduled_for=None if dry_run else scheduled_for, targeted=targeted
    )
    _queue_run(run)
    return run


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    campaign = _lock(campaign)
    _require(campaign, CAMPAIGN_TRANSITION_FROM["pause"], _("paused"))
    return _set_status(campaign, CampaignStatus.PAUSED, actor)


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    """Back to work: an interrupted run continues where it stopped; otherwise the schedule goes on."""
    campaign = _lock(campaign)
    _require(campaign, CAMPAIGN_TRANSITION_FROM["resume"], _("resumed"))
    run = _unfinished_run(campaign)
    if run is not None:
        _queue_run(run)
        return _set_status(campaign, CampaignStatus.RUNNING, actor)
    listens = campaign.schedule_kind != ScheduleKind.MANUAL or campaign.trigger
    return _set_status(campaign, CampaignStatus.SCHEDULED if listens else CampaignStatus.DRAFT, actor)


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    campaign = _lock(campaign)
    _require(campaign, CAMPAIGN_TRANSITION_FROM["cancel"], _("cancelled"))
    campaign.runs.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).update(status=RunStatus.CANCELLED, finished_at=timezone.now())
    return _set_status(campaign, CampaignStatus.CANCELLED, actor)


# Runs -------------------------------------------------------------------------------------------


def _cost_per_member(campaign: Campaign) -> Decimal:
    """What acting on one member costs: the campaign's own cost, the benefit's unit cost and the points awarded
    at the programme's point value (``USEROPS_POINT_VALUE_YUAN``)."""
    benefit_cost = campaign.benefit.unit_cost if campaign.benefit_id is not None else Decimal(0)
    return campaign.cost_per_member + benefit_cost + points_cost(campaign.points_amount or 0)


def _remaining(campaign: Campaign, run: CampaignRun) -> int | None:
    """How many more members the budget allows (None: no limit). Counts real runs, and a dry run's own numbers."""
    used = campaign.runs.filter(dry_run=False).exclude(pk=run.pk).aggregate(m=Sum("acted"), p=Sum("points_awarded"), c=Sum("cost"))
    members = (used["m"] or 0) + run.acted
    points = (used["p"] or 0) + run.points_awarded
    cost = (used["c"] or Decimal(0)) + run.cost
    limits = []
    if campaign.max_members is not None:
        limits.append(campaign.max_members - members)
    if campaign.max_points is not None and campaign.points_amount:
        limits.append((campaign.max_points - points) // campaign.points_amount)
    per_member = _cost_per_member(campaign)
    if campaign.max_cost is not None and per_member > 0:
        limits.append(int(((campaign.max_cost - cost) / per_member).to_integral_value(rounding=ROUND_FLOOR)))
    return max(0, min(limits)) if limits else None


CLASSIFY_SQL = """
SELECT m.id AS member_id, CASE
    WHEN m.status <> %(active)s THEN 'member_frozen'
    WHEN %(holdout)s > 0 AND ((m.id * 2654435761 + %(campaign)s * 40503) %% 4294967296) %% 100 < %(holdout)s THEN 'held_out'
    WHEN %(consent_channel)s <> '' AND NOT EXISTS (
        SELECT 1 FROM members_consent c WHERE c.member_id = m.id AND c.channel = %(consent_channel)s AND c.granted
    ) THEN 'no_consent'
    WHEN %(cap)s > 0 AND (
        SELECT count(*) FROM (
            SELECT 1 FROM campaigns_campaignaction a
            WHERE a.member_id = m.id AND a.outcome = 'acted' AND a.created_at >= %(since)s LIMIT %(cap)s
        ) recent
    ) >= %(cap)s THEN 'cap_reached'
    ELSE 'acted' END AS outcome
FROM members_member m WHERE m.id IN ({ids})
"""


def _classify_sql(ids: list[int]) -> str:
    # One placeholder per id keeps the statement portable (the embedded SQLite demo has no arrays).
    return CLASSIFY_SQL.format(ids=", ".join(f"%(id{index})s" for index in range(len(ids))))


def _classify_params(campaign: Campaign, run: CampaignRun, ids: list[int], now: datetime) -> dict[str, Any]:
    # Consent decides the whole action only when a marketing message is the campaign's only action;
    # otherwise the points go out and the message is filtered by consent on its own.
    message_only = not campaign.points_amount and campaign.message_purpose == MessagePurpose.MARKETING
    return {
        "active": MemberStatus.ACTIVE,
        "holdout": campaign.holdout_percent,
        "campaign": campaign.pk,
        "consent_channel": campaign.message_channel if message_only else "",
        "cap": _config("FREQUENCY_CAP") if campaign.applies_frequency_cap else 0,
        "since": now - timedelta(days=_config("FREQUENCY_CAP_DAYS")),
        **{f"id{index}": member_id for index, member_id in enumerate(ids)},
        "run": run.pk,
        "now": now,
    }


def _classify(campaign: Campaign, run: CampaignRun, ids: list[int], now: datetime) -> dict[str, list[int]]:
    """Each member's outcome; a real run records them (ON CONFLICT DO NOTHING: a member is acted on once per run)."""
    params = _classify_params(campaign, run, ids, now)
    classify_sql = _classify_sql(ids)
    with connection.cursor() as cursor:
        if run.dry_run:
            cursor.execute(classify_sql, params)
        else:
            cursor.execute(
                "INSERT INTO campaigns_campaignaction (run_id, campaign_id, member_id, outcome, created_at) "  # noqa: S608
                # WHERE true: SQLite would otherwise read ON CONFLICT as a join's ON.
                f"SELECT %(run)s, %(campaign)s, member_id, outcome, %(now)s FROM ({classify_sql}) classified WHERE true "
                "ON CONFLICT (run_id, member_id) DO NOTHING RETURNING member_id, outcome",
                params,
            )
        rows = cursor.fetchall()
    outcomes: dict[str, list[int]] = {outcome: [] for outcome in ActionOutcome.values}
    for member_id, outcome in sorted(rows):
        outcomes[outcome].append(member_id)
    return outcomes


def _grant(campaign: Campaign, run: CampaignRun, acted: list[int]) -> None:
    """Grant the benefit to the chunk's acted-on members (benefits decides stock, limits and tiers)."""
    if campaign.benefit_id is None or not acted:
        return
    if not Benefit.objects.filter(pk=campaign.benefit_id, status=BenefitStatus.ACTIVE).exists():
        run.benefits_not_granted += len(acted)
        return
    result = grants_issue_bulk(benefit=campaign.benefit, member_ids=acted, source=GrantSource.CAMPAIGN, source_ref=f"campaign-run:{run.pk}")
    run.benefits_granted += result.issued
    run.benefits_not_granted += len(acted) - result.issued - result.skipped_duplicate


def _apply(campaign: Campaign, run: CampaignRun, acted: list[int], now: datetime) -> tuple[int, int]:
    """Grant, award and message set-based; returns (members credited, messages queued)."""
    _grant(campaign, run, acted)
    credited = len(acted)
    if campaign.points_amount and acted:
        expires_at = now + timedelta(days=campaign.points_valid_days) if campaign.points_valid_days else None
        credited = points_earn_bulk(
            member_ids=acted,
            amount=campaign.points_amount,
            reason=Reason("campaign", {"name": translated_param(campaign, "name")}),
            source_ref=f"campaign-run:{run.pk}",
            expires_at=expires_at,
        )
    queued = 0
    if campaign.message_template_code and acted:
        queued = messages_enqueue_bulk(
            member_ids=acted,
            channel=campaign.message_channel,
            template_code=campaign.message_template_code,
            context={
                "campaign": campaign.name,
                "points": campaign.points_amount or 0,
                "benefit": campaign.benefit.name if campaign.benefit else "",
            },
            purpose=campaign.message_purpose,
            dedupe_prefix=f"campaign-run:{run.pk}",
        )
    return credited, queued


def _finish(campaign: Campaign, run: CampaignRun, now: datetime) -> None:
    run.status, run.finished_at = RunStatus.COMPLETED, now
    if run.dry_run or run.trigger_key or campaign.status != CampaignStatus.RUNNING:
        return
    recurring = campaign.schedule_kind in (ScheduleKind.INTERVAL, ScheduleKind.CRON)
    _set_status(campaign, CampaignStatus.SCHEDULED if recurring else CampaignStatus.COMPLETED, None)


SKIP_COUNTERS = {
    ActionOutcome.HELD_OUT: "held_out",
    ActionOutcome.NO_CONSENT: "skipped_no_consent",
    ActionOutcome.CAP_REACHED: "skipped_cap_reached",
    ActionOutcome.MEMBER_FROZEN: "skipped_member_frozen",
}


def _lock_chunk(campaign: Campaign, ids: list[int]) -> None:
    """Take the chunk's locks up front in the product's order: the benefit, then the members' points accounts.

    The action rows inserted next hold key-share locks on the members; a points mall exchange or a revocation
    (benefit, then account) or a points_earn waiting between them would otherwise deadlock with this chunk.
    """
    if campaign.benefit_id is not None:
        lock_benefit(benefit_id=campaign.benefit_id)
    if campaign.points_amount:
        lock_points_accounts(member_ids=ids)


@transaction.atomic
def _run_chunk(run_id: int, chunk_size: int) -> bool:
    """Process the next chunk of a run; True when the run has nothing more to do now."""
    campaign_id = CampaignRun.objects.values_list("campaign_id", flat=True).get(pk=run_id)
    campaign = lock_campaign(campaign_id=campaign_id)
    run = lock_run(run_id=run_id)
    if run.status in (RunStatus.COMPLETED, RunStatus.CANCELLED):
        return True
    if not run.dry_run and campaign.status != (CampaignStatus.SCHEDULED if run.trigger_key else CampaignStatus.RUNNING):
        return True
    now = timezone.now()
    if run.status == RunStatus.PENDING:
        run.status, run.started_at = RunStatus.RUNNING, now
    run.campaign = campaign
    ids = list(run_members(run=run).filter(pk__gt=run.cursor).order_by("pk").values_list("pk", flat=True)[:chunk_size])
    if not ids:
        _finish(campaign, run, now)
        run.heartbeat_at = now
        run.save()
        return True
    if not run.dry_run:
        _lock_chunk(campaign, ids)
    outcomes = _classify(campaign, run, ids, now)
    acted = outcomes[ActionOutcome.ACTED]
    remaining = _remaining(campaign, run)
    if remaining is not None and len(acted) > remaining:
        acted, over = acted[:remaining], acted[remaining:]
        run.skipped_budget_exhausted += len(over)
        if not run.dry_run:
            CampaignAction.objects.filter(run=run, member_id__in=over).update(outcome=ActionOutcome.BUDGET_EXHAUSTED)
    if run.dry_run:
        credited, queued = len(acted), 0
    else:
        credited, queued = _apply(campaign, run, acted, now)
    for outcome, counter in SKIP_COUNTERS.items():
        setattr(run, counter, getattr(run, counter) + len(outcomes[outcome]))
    run.acted += credited
    run.failed += len(acted) - credited
    run.points_awarded += credited * (campaign.points_amount or 0)
    run.cost += credited * _cost_per_member(campaign)
    run.messages_queued += queued
    run.processed += len(ids)
    run.cursor = ids[-1]
    run.heartbeat_at = now
    run.save()
    return False


def campaign_run_execute(*, run_id: int, chunk_size: int | None = None) -> CampaignRun:
    """Work a run to its end, one committed chunk at a time; safe to call again after a crash."""
    chunk_size = chunk_size or _config("CHUNK_SIZE")
    while not _run_chunk(run_id, chunk_size):
        pass
    return CampaignRun.objects.get(pk=run_id)


def campaign_runs_resume_stalled(*, stalled_for: timedelta | None = None) -> list[int]:
    """Queue again the runs whose worker went quiet (died): they continue from their cursor."""
    since = timezone.now() - (stalled_for if stalled_for is not None else timedelta(minutes=_config("STALLED_AFTER_MINUTES")))
    runs = list(
        CampaignRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING])
        .filter(Q(campaign__status=CampaignStatus.RUNNING) | Q(campaign__status=CampaignStatus.SCHEDULED, trigger_key__gt=""))
        .exclude(heartbeat_at__gt=since)
        .exclude(heartbeat_at__isnull=True, created_at__gt=since)
    )
    with transaction.atomic():
        for run in runs:
            _queue_run(run)
    return [run.pk for run in runs]


def campaign_triggers_process(*, now: datetime | None = None) -> list[int]:
    """Open one run per scheduled trigger campaign for the events since its last window (outbox-style).

    Windows are contiguous and each has a unique key, so running this twice (or on two workers) acts once.
    Birthday windows are calendar days: one run per campaign per day.
    """
    now = now or timezone.now()
    runs = []
    for campaign_id in Campaign.objects.filter(status=CampaignStatus.SCHEDULED).exclude(trigger="").values_list("pk", flat=True):
        with transaction.atomic():
            campaign = lock_campaign(campaign_id=campaign_id)
            if campaign.status != CampaignStatus.SCHEDULED:
                continue
            if campaign.trigger == Trigger.BIRTHDAY:
                day = timezone.localdate(now)
                start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
                key, end = f"birthday:{day.isoformat()}", start + timedelta(days=1)
            else:
                last = campaign.runs.exclude(trigger_key="").order_by("-window_end").first()
                start = last.window_end if last else (campaign.triggers_since or campaign.created_at)
                key, end = f"{campaign.trigger}:{now.isoformat()}", now
            if campaign.runs.filter(trigger_key=key).exists():
                continue
            run = CampaignRun(campaign=campaign, trigger_key=key, window_start=start, window_end=end)
            run.targeted = run_members(run=run).count()
            run.save()
            _queue_run(run)
            runs.append(run.pk)
    return runs


# Referrals (转介绍) ------------------------------------------------------------------------------

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


class RejectReason:
    SAME_PERSON = "same_person"
    ALREADY_MEMBER = "already_member"
    CAP_REACHED = "cap_reached"
    MEMBER_NOT_ACTIVE = "member_not_active"


def _referral_config(key: str) -> Any:
    return settings.USEROPS_REFERRALS[key]


def referral_code_for(*, member: Member) -> ReferralCode:
    """The member's code, created on first use."""
    existing = ReferralCode.objects.filter(member=member).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(member=member, code=code)
        except IntegrityError:
            existing = ReferralCode.objects.filter(member=member).first()
            if existing is not None:
                return existing
    raise ApplicationError("referral_code_unavailable", _("No free referral code could be made; try again."))


@transaction.atomic
def referral_attach(*, referee: Member, code: str) -> Referral:
    """Link a newly enrolled member to the owner of ``code``. Guards that only withhold the reward record a rejection."""
    owner = ReferralCode.objects.select_related("member").filter(code=(code or "").strip().upper()).first()
    if owner is None:
        raise ApplicationError("referral_code_invalid", _("This referral code does not exist."), fields={"code": code})
    referrer = owner.member
    if referrer.pk == referee.pk:
        raise ApplicationError("self_referral", _("Members cannot refer themselves."), fields={"code": code})
    if Referral.objects.filter(referee=referee).exists():
        raise ApplicationError("already_referred", _("This member was already referred."), http_status=409)
    referral = Referral(referrer=referrer, referee=referee, code=owner.code)
    if (referee.phone and referee.phone == referrer.phone) or (referee.email and referee.email.lower() == referrer.email.lower()):
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.SAME_PERSON
    elif referee.joined_at < timezone.now() - timedelta(hours=_referral_config("ATTACH_WITHIN_HOURS")):
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.ALREADY_MEMBER
    referral.save()
    if referral.state != ReferralState.REJECTED:
        activity_happened(member_id=referrer.pk, kind="referral", event_id=f"referral:{referral.pk}", occurred_at=referral.created_at)
    return referral


def _month_start() -> datetime:
    local = timezone.localtime()
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@transaction.atomic
def referral_qualify(*, referee: Member, action: str) -> Referral | None:
    """The referee did ``action``; if it qualifies, reward referrer and referee once. None when not referred."""
    if action not in _referral_config("QUALIFYING_ACTIONS"):
        raise ApplicationError(
            "invalid_action", _("%(action)s is not a qualifying action.") % {"action": action}, fields={"action": action}
        )
    referral = Referral.objects.select_for_update().select_related("referrer", "referee").filter(referee=referee).first()
    if referral is None or referral.state != ReferralState.PENDING:
        return referral
    now = timezone.now()
    referral.state, referral.qualifying_action, referral.qualified_at = ReferralState.QUALIFIED, action, now
    # Lock the referrer before counting, so two referees qualifying together cannot both pass the cap.
    lock_members(member_ids=[referral.referrer_id])
    rewarded_this_month = Referral.objects.filter(referrer_id=referral.referrer_id, rewarded_at__gte=_month_start()).count()
    if rewarded_this_month >= _referral_config("MONTHLY_CAP_PER_REFERRER"):
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.CAP_REACHED
    elif referral.referrer.status != MemberStatus.ACTIVE or referral.referee.status != MemberStatus.ACTIVE:
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.MEMBER_NOT_ACTIVE
    else:
        reason = Reason("referral_reward")
        points_earn(
            member=referral.referrer,
            amount=_referral_config("REFERRER_POINTS"),
            reason=reason,
            source_ref=f"referral:{referral.pk}:referrer",
        )
        points_earn(
            member=referral.referee, amount=_referral_config("REFEREE_POINTS"), reason=reason, source_ref=f"referral:{referral.pk}:referee"
        )
        referral.state, referral.rewarded_at = ReferralState.REWARDED, now
    referral.save()
    return referral
