from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.campaigns.conditions import CONDITIONS, OPERATOR_LABELS, compile_rules
from apps.campaigns.models import CampaignRun, Segment, SegmentMember, Trigger
from apps.core.db import statement_timeout
from apps.core.errors import ApplicationError
from apps.members.models import Member, TierChange, TierChangeKind

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
    """The members matching a rule tree: one SQL query, whatever the tree."""
    return Member.objects.filter(compile_rules(rules))


def segment_members(*, segment: Segment) -> QuerySet[Member]:
    """A frozen segment's snapshot, or its rules evaluated now."""
    if segment.is_frozen:
        return Member.objects.filter(pk__in=SegmentMember.objects.filter(segment=segment).values("member_id"))
    return rules_members(rules=segment.rules)


def run_members(*, run: CampaignRun) -> QuerySet[Member]:
    """The members a run acts on: its campaign's segment, narrowed to its trigger window for trigger runs."""
    members = segment_members(segment=run.campaign.segment)
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


def segment_builder_config() -> list[dict[str, Any]]:
    """What the segment builder offers: each condition with its operators and, where there are, its values."""
    return [
        {
            "field": condition.field,
            "label": str(condition.label),
            "kind": condition.value_kind,
            "operators": [[operator, str(OPERATOR_LABELS.get(operator, operator))] for operator in condition.operators],
            "choices": [[str(value), str(label)] for value, label in condition.choices()] if condition.choices else None,
        }
        for condition in CONDITIONS.values()
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


def segment_preview(*, rules: dict[str, Any], sample_size: int = 10) -> dict[str, Any]:
    """Live count and a sample, for the segment editor."""
    members = rules_members(rules=rules)
    with segment_query_guard():
        sample = members.select_related("tier").order_by("-id")[:sample_size]
        return {
            "count": members.count(),
            "sample": [{"id": m.pk, "name": m.name, "tier": m.tier.name, "city": m.city, "status": m.get_status_display()} for m in sample],
        }


def campaign_run_list() -> QuerySet[CampaignRun]:
    return CampaignRun.objects.select_related("campaign")
