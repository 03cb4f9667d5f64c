"""Campaign runs: launch, pause, resume and cancel; executing a run chunk by chunk; stalled runs; trigger runs.

Locks: a campaign row before its runs. A run works chunk by chunk (members in id order); each chunk is one
transaction that decides each member's outcome with one query per rule, applies the actions set-based through
the owning apps' services, records the chunk's CampaignAction rows and moves the run's cursor and numbers — so a
worker that dies loses at most an uncommitted chunk, and the retry resumes at the cursor. The run's row lock
makes chunks of one run take turns; the (run, member) unique constraint keeps the effect exactly-once even if
that were bypassed. Runs are handed to the worker by task name (``apps.core.queueing``).
"""

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.benefits.locks import lock_benefit
from apps.benefits.models import Benefit, BenefitStatus, GrantSource
from apps.benefits.services import grants_issue_bulk
from apps.campaigns.locks import lock_campaign, lock_run
from apps.campaigns.models import (
    CAMPAIGN_TRANSITION_FROM,
    RUN_MESSAGE_PREFIX,
    ActionOutcome,
    Campaign,
    CampaignAction,
    CampaignRun,
    CampaignStatus,
    RunStatus,
    ScheduleKind,
    Trigger,
)
from apps.campaigns.outbox_events import run_step_event
from apps.campaigns.selectors import run_chunk_outcomes, run_members, segment_members, segment_query_guard
from apps.campaigns.services.schedule import campaign_require_status, campaign_status_set, campaign_validate
from apps.core.bulk_insert import insert_rows
from apps.core.errors import ApplicationError
from apps.core.garbage import cyclic_collector_paused
from apps.core.models import User
from apps.core.outbox import EventType, outbox_emit_many
from apps.core.queueing import enqueue_on_commit
from apps.core.reasons import Reason, translated_param
from apps.members.selectors import points_cost
from apps.members.services import points_earn_bulk
from apps.messaging.services import messages_enqueue_bulk

# The worker's task for a run; queued by name so this module never imports the tasks that call it.
EXECUTE_RUN_TASK = "campaigns.execute_run"


def _config(key: str) -> Any:
    return settings.USEROPS_CAMPAIGNS[key]


def _queue_run(run: CampaignRun) -> None:
    enqueue_on_commit(EXECUTE_RUN_TASK, run.pk)


def _unfinished_run(campaign: Campaign) -> CampaignRun | None:
    return campaign.runs.filter(dry_run=False, status__in=[RunStatus.PENDING, RunStatus.RUNNING]).first()


# Transitions ------------------------------------------------------------------------------------


@transaction.atomic
def campaign_launch(
    *, campaign: Campaign, dry_run: bool = False, actor: User | None = None, scheduled_for: datetime | None = None
) -> CampaignRun:
    """Start a run now (staff, or beat on schedule with its slot). A dry run counts without acting, in any open status."""
    campaign = lock_campaign(campaign_id=campaign.pk)
    if scheduled_for is not None and campaign.runs.filter(scheduled_for=scheduled_for).exists():
        raise ApplicationError("slot_already_run", _("This scheduled run has already started."), http_status=409)
    if dry_run:
        campaign_require_status(campaign=campaign, allowed=CAMPAIGN_TRANSITION_FROM["dry_run"], action=_("dry-run"))
    else:
        campaign_require_status(campaign=campaign, allowed=CAMPAIGN_TRANSITION_FROM["launch"], action=_("launched"))
        if campaign.trigger:
            raise ApplicationError(
                "trigger_campaign", _("A trigger campaign acts when its event happens; schedule it instead."), http_status=409
            )
        if _unfinished_run(campaign) is not None:
            raise ApplicationError("run_in_progress", _("The campaign's previous run has not finished."), http_status=409)
        campaign_validate(campaign=campaign)
        campaign_status_set(campaign=campaign, status=CampaignStatus.RUNNING, actor=actor)
    with segment_query_guard():
        targeted = segment_members(segment=campaign.segment).count()
    run = CampaignRun.objects.create(
        campaign=campaign, dry_run=dry_run, scheduled_for=None if dry_run else scheduled_for, targeted=targeted
    )
    _queue_run(run)
    return run


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    campaign = lock_campaign(campaign_id=campaign.pk)
    campaign_require_status(campaign=campaign, allowed=CAMPAIGN_TRANSITION_FROM["pause"], action=_("paused"))
    return campaign_status_set(campaign=campaign, status=CampaignStatus.PAUSED, actor=actor)


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    """Back to work: an interrupted run continues where it stopped; otherwise the schedule goes on."""
    campaign = lock_campaign(campaign_id=campaign.pk)
    campaign_require_status(campaign=campaign, allowed=CAMPAIGN_TRANSITION_FROM["resume"], action=_("resumed"))
    run = _unfinished_run(campaign)
    if run is not None:
        _queue_run(run)
        return campaign_status_set(campaign=campaign, status=CampaignStatus.RUNNING, actor=actor)
    listens = campaign.schedule_kind != ScheduleKind.MANUAL or campaign.trigger
    return campaign_status_set(campaign=campaign, status=CampaignStatus.SCHEDULED if listens else CampaignStatus.DRAFT, actor=actor)


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    campaign = lock_campaign(campaign_id=campaign.pk)
    campaign_require_status(campaign=campaign, allowed=CAMPAIGN_TRANSITION_FROM["cancel"], action=_("cancelled"))
    campaign.runs.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).update(status=RunStatus.CANCELLED, finished_at=timezone.now())
    return campaign_status_set(campaign=campaign, status=CampaignStatus.CANCELLED, actor=actor)


# Executing a run --------------------------------------------------------------------------------


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


def _lock_benefit(campaign: Campaign) -> Benefit | None:
    """The chunk's first lock after the run: its benefit (a mall exchange or a revocation of it takes the benefit
    before the account, so the product's order puts it before members and accounts).

    The chunk locks no member and no points account itself. Members' ledger (``points_earn_bulk``) locks the
    acted-on members' accounts, and their members FOR NO KEY UPDATE, in key order, before anything of this chunk
    points at a member (``_apply`` awards the points before it grants, the action rows come last). The key-share
    locks that the grants, messages and action rows then take on members — skipped members too — neither wait
    for another chunk's ledger lock nor hold it up, so two runs over overlapping members (one holding out a
    member the other acts on) cannot deadlock, and a single earn waiting on such a key-share holds no account
    this chunk still needs.
    """
    return lock_benefit(benefit_id=campaign.benefit_id) if campaign.benefit_id is not None else None


def _grant(campaign: Campaign, run: CampaignRun, benefit: Benefit | None, acted: list[int]) -> None:
    """Grant the benefit to the chunk's acted-on members (benefits decides stock, limits and tiers)."""
    if benefit is None or not acted:
        return
    if benefit.status != BenefitStatus.ACTIVE:
        run.benefits_not_granted += len(acted)
        return
    result = grants_issue_bulk(benefit=benefit, member_ids=acted, source=GrantSource.CAMPAIGN, source_ref=f"campaign-run:{run.pk}")
    run.benefits_granted += result.issued
    run.benefits_not_granted += len(acted) - result.issued - result.skipped_duplicate


def _apply(campaign: Campaign, run: CampaignRun, benefit: Benefit | None, acted: list[int], now: datetime) -> tuple[int, int]:
    """Award, grant and message set-based; returns (members credited, messages queued).

    The points go first: the ledger's account locks come before any key-share on the members (``_lock_benefit``).
    """
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
    _grant(campaign, run, benefit, acted)
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
            dedupe_prefix=f"{RUN_MESSAGE_PREFIX}:{run.pk}",
        )
    return credited, queued


def _record_actions(campaign: Campaign, run: CampaignRun, outcomes: dict[str, list[int]], now: datetime) -> None:
    """One CampaignAction row per member of the chunk, with its outcome (what the frequency cap counts)."""
    insert_rows(
        CampaignAction,
        [
            {"run_id": run.pk, "campaign_id": campaign.pk, "member_id": member_id, "outcome": outcome, "created_at": now}
            for outcome, member_ids in outcomes.items()
            for member_id in member_ids
        ],
    )


def _finish(campaign: Campaign, run: CampaignRun, now: datetime) -> None:
    run.status, run.finished_at = RunStatus.COMPLETED, now
    if run.dry_run or run.trigger_key or campaign.status != CampaignStatus.RUNNING:
        return
    recurring = campaign.schedule_kind in (ScheduleKind.INTERVAL, ScheduleKind.CRON)
    campaign_status_set(campaign=campaign, status=CampaignStatus.SCHEDULED if recurring else CampaignStatus.COMPLETED, actor=None)


SKIP_COUNTERS = {
    ActionOutcome.HELD_OUT: "held_out",
    ActionOutcome.NO_CONSENT: "skipped_no_consent",
    ActionOutcome.CAP_REACHED: "skipped_cap_reached",
    ActionOutcome.BUDGET_EXHAUSTED: "skipped_budget_exhausted",
    ActionOutcome.MEMBER_FROZEN: "skipped_member_frozen",
}


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
    ids = list(run_members(run=run, after=run.cursor).order_by("pk").values_list("pk", flat=True)[:chunk_size])
    if not ids:
        _finish(campaign, run, now)
        run.heartbeat_at = now
        run.save()
        outbox_emit_many(events=run_step_event(run, ids), types=[EventType.CAMPAIGN_RUN_STEP], occurred_at=now)
        return True
    outcomes = run_chunk_outcomes(campaign=campaign, member_ids=ids, now=now)
    acted = outcomes[ActionOutcome.ACTED]
    remaining = _remaining(campaign, run)
    if remaining is not None and len(acted) > remaining:
        acted, outcomes[ActionOutcome.BUDGET_EXHAUSTED] = acted[:remaining], acted[remaining:]
        outcomes[ActionOutcome.ACTED] = acted
    if run.dry_run:
        credited, queued = len(acted), 0
    else:
        benefit = _lock_benefit(campaign)
        credited, queued = _apply(campaign, run, benefit, acted, now)
        _record_actions(campaign, run, outcomes, now)
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
    outbox_emit_many(events=run_step_event(run, ids), types=[EventType.CAMPAIGN_RUN_STEP], occurred_at=now)
    return False


def campaign_run_execute(*, run_id: int, chunk_size: int | None = None) -> CampaignRun:
    """Work a run to its end, one committed chunk at a time; safe to call again after a crash."""
    chunk_size = chunk_size or _config("CHUNK_SIZE")
    while True:
        with cyclic_collector_paused():
            if _run_chunk(run_id, chunk_size):
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


# Trigger runs -----------------------------------------------------------------------------------


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
