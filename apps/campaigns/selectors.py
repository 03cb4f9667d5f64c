from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.campaigns.conditions import CONDITIONS, OPERATOR_LABELS, check_reader, compile_rules
from apps.campaigns.models import ActionOutcome, Campaign, CampaignAction, CampaignRun, Segment, SegmentMember, Trigger
from apps.core.db import statement_timeout
from apps.core.errors import ApplicationError
from apps.core.replicas import replica_reads
from apps.members.models import Member, MemberStatus, TierChange, TierChangeKind
from apps.members.selectors import active_member_ids, member_ids_with_consent
from apps.messaging.models import MessagePurpose

# Triggers whose events live in apps that build on campaigns (first purchase: analytics) register the members
# whose event falls in a run's window here, so campaigns never imports them.
TriggerWindow = Callable[[datetime, datetime], QuerySet]
TRIGGER_WINDOWS: dict[str, TriggerWindow] = {}
BUILT_IN_TRIGGERS = frozenset({Trigger.ENROLMENT, Trigger.TIER_PROMOTION, Trigger.BIRTHDAY})


def register_trigger_window(trigger: str) -> Callable[[TriggerWindow], TriggerWindow]:
    def register(members_in_window: TriggerWindow) -> TriggerWindow:
        TRIGGER_WINDOWS[trigger] = members_in_window
        return members_in_window

    return register


def rules_members(*, rules: dict[str, Any]) -> QuerySet[Member]:
    """The members matching a rule tree: one SQL query, whatever the tree.

    Prospects (people known from leads, not enrolled) are left out unless the tree asks for them by status.
    """
    members = Member.objects.filter(compile_rules(rules))
    return members if _asks_for_prospects(rules) else members.exclude(status=MemberStatus.PROSPECT)


def _asks_for_prospects(rules: Any) -> bool:
    if not isinstance(rules, dict):
        return False
    if isinstance(rules.get("conditions"), list):
        return any(_asks_for_prospects(child) for child in rules["conditions"])
    value = rules.get("value")
    return rules.get("field") == "status" and isinstance(value, list) and MemberStatus.PROSPECT in value


def segment_members(*, segment: Segment, after: int = 0) -> QuerySet[Member]:
    """A frozen segment's snapshot, or its rules evaluated now; only members with ids above ``after`` if given.

    ``after`` is a run's cursor: it narrows the snapshot itself, so each chunk reads the snapshot from where the
    previous one stopped instead of from its start.
    """
    if segment.is_frozen:
        snapshot = SegmentMember.objects.filter(segment=segment)
        if after:
            snapshot = snapshot.filter(member_id__gt=after)
        members = Member.objects.filter(pk__in=snapshot.values("member_id"))
    else:
        members = rules_members(rules=segment.rules)
    return members.filter(pk__gt=after) if after else members


def run_members(*, run: CampaignRun, after: int = 0) -> QuerySet[Member]:
    """The members a run acts on (above ``after``): its campaign's segment, narrowed to its trigger window for trigger runs."""
    members = segment_members(segment=run.campaign.segment, after=after)
    trigger = run.campaign.trigger
    if not run.trigger_key:
        return members
    if trigger == Trigger.ENROLMENT:
        return members.filter(joined_at__gte=run.window_start, joined_at__lt=run.window_end)
    if trigger == Trigger.TIER_PROMOTION:
        promoted = TierChange.objects.filter(kind=TierChangeKind.PROMOTION, created_at__gte=run.window_start, created_at__lt=run.window_end)
        return members.filter(pk__in=promoted.values("member_id"))
    if trigger in TRIGGER_WINDOWS:
        return members.filter(pk__in=TRIGGER_WINDOWS[trigger](run.window_start, run.window_end))
    day = timezone.localtime(run.window_start).date()
    return members.filter(birthday__month=day.month, birthday__day=day.day)


def segment_builder_config(*, can_see_personal: bool) -> list[dict[str, Any]]:
    """What the segment builder offers: each condition with its operators and, where there are, its values and what
    is picked before them (attributes); conditions and options on personal data only to a reader who may see it."""
    return [
        {
            "field": condition.field,
            "label": str(condition.label),
            "kind": condition.value_kind,
            "operators": [[operator, str(OPERATOR_LABELS.get(operator, operator))] for operator in condition.operators],
            "choices": [[str(value), str(label)] for value, label in condition.choices()] if condition.choices else None,
            "options": condition.options(can_see_personal) if condition.options else None,
        }
        for condition in CONDITIONS.values()
        if can_see_personal or condition.personal is not True
    ]


def segment_query_guard() -> AbstractContextManager[None]:
    """Counts and previews asked for in a request stop at the segment query timeout with a clear refusal."""
    return statement_timeout(
        milliseconds=settings.USEROPS["SEGMENT_QUERY_TIMEOUT_MS"],
        refusal=ApplicationError(
            "segment_query_timeout",
            _("Counting this segment took too long and was stopped. Narrow the rules (fewer conditions or values) and try again."),
            http_status=400,
        ),
    )


@replica_reads()
def segment_preview(*, rules: dict[str, Any], can_see_personal: bool, sample_size: int = 10) -> dict[str, Any]:
    """Live count and a sample, for the segment editor (from a replica when one is healthy).

    A reader who may not see personal data is refused a rule tree with a condition on it (``check_reader``).
    """
    members = rules_members(rules=rules)  # a malformed tree is refused first, as for any reader
    check_reader(rules, can_see_personal=can_see_personal)
    with segment_query_guard():
        sample = members.select_related("tier").order_by("-id")[:sample_size]
        return {
            "count": members.count(),
            "sample": [{"id": m.pk, "name": m.name, "tier": m.tier.name, "city": m.city, "status": m.get_status_display()} for m in sample],
        }


def campaign_run_list() -> QuerySet[CampaignRun]:
    return CampaignRun.objects.select_related("campaign")


def _held_out(campaign: Campaign, member_id: int) -> bool:
    """A stable pseudo-random draw per (campaign, member), so a re-run holds out the same members."""
    return (member_id * 2654435761 + campaign.pk * 40503) % 4294967296 % 100 < campaign.holdout_percent


def _capped_member_ids(member_ids: list[int], now: datetime) -> set[int]:
    """Members acted on by campaigns ``FREQUENCY_CAP`` times or more in the last ``FREQUENCY_CAP_DAYS`` days."""
    config = settings.USEROPS_CAMPAIGNS
    recent = CampaignAction.objects.filter(
        member_id__any_of=member_ids, outcome=ActionOutcome.ACTED, created_at__gte=now - timedelta(days=config["FREQUENCY_CAP_DAYS"])
    )
    capped = recent.values("member_id").annotate(actions=Count("pk")).filter(actions__gte=config["FREQUENCY_CAP"])
    return set(capped.values_list("member_id", flat=True))


def run_chunk_outcomes(*, campaign: Campaign, member_ids: list[int], now: datetime) -> dict[str, list[int]]:
    """What a run does to each member of a chunk, each rule checked once for the whole chunk.

    In order: a member who is not active is skipped (frozen), then the hold-out group, then members without
    consent (only when a marketing message is the campaign's only action; otherwise the points go out and the
    message is filtered by consent on its own), then members at the frequency cap; everyone else is acted on.
    """
    active = active_member_ids(member_ids=member_ids)
    message_only = not campaign.points_amount and campaign.message_purpose == MessagePurpose.MARKETING
    consent_channel = campaign.message_channel if message_only else ""
    consenting = member_ids_with_consent(member_ids=member_ids, channel=consent_channel) if consent_channel else None
    capped = (
        _capped_member_ids(member_ids, now) if campaign.applies_frequency_cap and settings.USEROPS_CAMPAIGNS["FREQUENCY_CAP"] else set()
    )
    outcomes: dict[str, list[int]] = {outcome: [] for outcome in ActionOutcome.values}
    for member_id in sorted(member_ids):
        if member_id not in active:
            outcome = ActionOutcome.MEMBER_FROZEN
        elif campaign.holdout_percent and _held_out(campaign, member_id):
            outcome = ActionOutcome.HELD_OUT
        elif consenting is not None and member_id not in consenting:
            outcome = ActionOutcome.NO_CONSENT
        elif member_id in capped:
            outcome = ActionOutcome.CAP_REACHED
        else:
            outcome = ActionOutcome.ACTED
        outcomes[outcome].append(member_id)
    return outcomes
