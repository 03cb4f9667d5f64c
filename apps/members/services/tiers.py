"""Tiers: the rolling growth value, promotion, the nightly evaluation under the grace rule, tier history, tier setup.

Tier history (``TierChange``) is written only here: a member's first tier (enrolment, import), promotions and demotions.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.bulk_insert import insert_rows
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.outbox import EventType, outbox_emit_many
from apps.core.reasons import Reason, reason_fields, translated_param
from apps.members.locks import lock_active_members_after
from apps.members.models import GrowthEntry, Member, Tier, TierChange, TierChangeKind
from apps.members.outbox_events import tier_events


def lowest_tier() -> Tier:
    tier = Tier.objects.order_by("rank").first()
    if tier is None:
        raise ApplicationError("no_tiers", _("No tiers are configured."))
    return tier


@dataclass(frozen=True)
class TierStart:
    """A member's first tier and why (enrolment, an import)."""

    member_id: int
    tier_id: int
    reason: Reason


def tier_history_start(*, starts: Sequence[TierStart], now: datetime, actor: User | None = None) -> None:
    """The first tier-history row of new members, set-based (one for an enrolment, a chunk for an import)."""
    # A chunk shares a few Reason objects; rendering each once keeps an import's chunk cheap.
    columns_by_reason: dict[int, dict] = {}
    rows = []
    for start in starts:
        if id(start.reason) not in columns_by_reason:
            columns_by_reason[id(start.reason)] = reason_fields(start.reason)
        rows.append(
            {
                "member_id": start.member_id,
                "kind": TierChangeKind.INITIAL,
                "from_tier_id": None,
                "to_tier_id": start.tier_id,
                "growth_value": 0,
                "actor_id": actor.pk if actor else None,
                **columns_by_reason[id(start.reason)],
                "created_at": now,
            }
        )
    if len(rows) == 1:
        TierChange.objects.create(**rows[0])
    else:
        insert_rows(TierChange, rows)


def tier_promote_on_growth(*, member: Member, now: datetime, actor: User | None = None) -> TierChange | None:
    """Refresh the locked member's rolling growth value and promote at once when it reaches a higher tier's threshold."""
    member.growth_value = _rolling_growth([member.pk], now).get(member.pk, 0)
    target = _qualifying_tier(list(Tier.objects.order_by("rank")), member.growth_value)
    if target.rank <= member.tier.rank:
        member.save(update_fields=["growth_value", "updated_at"])
        return None
    change = _tier_change(member, target, TierChangeKind.PROMOTION, now, actor)
    change.save()
    member.save(update_fields=["tier", "tier_achieved_at", "growth_value", "updated_at"])
    outbox_emit_many(events=tier_events([change]), types=[EventType.TIER_CHANGED])
    return change


def _window_start(now: datetime) -> datetime:
    return now - timedelta(days=settings.USEROPS["GROWTH_WINDOW_DAYS"])


def _qualifying_tier(tiers: list[Tier], growth_value: int) -> Tier:
    qualified = [tier for tier in tiers if tier.threshold <= growth_value]
    return max(qualified, key=lambda tier: tier.rank) if qualified else tiers[0]


def _rolling_growth(member_ids: list[int], now: datetime) -> dict[int, int]:
    rows = (
        GrowthEntry.objects.filter(member_id__in=member_ids, created_at__gt=_window_start(now), created_at__lte=now)
        .values("member_id")
        .annotate(total=Sum("amount"))
    )
    return {row["member_id"]: row["total"] for row in rows}


def _tier_change(member: Member, target: Tier, kind: str, now: datetime, actor: User | None) -> TierChange:
    """Move the member to ``target`` in memory and return the (unsaved) record of why."""
    measured = target if kind == TierChangeKind.PROMOTION else member.tier
    params = {"value": member.growth_value, "tier": translated_param(measured, "name"), "threshold": measured.threshold}
    reason = Reason("tier_promoted" if kind == TierChangeKind.PROMOTION else "tier_demoted", params)
    change = TierChange(
        member=member,
        kind=kind,
        from_tier=member.tier,
        to_tier=target,
        growth_value=member.growth_value,
        actor=actor,
        created_at=now,
        **reason_fields(reason),
    )
    member.tier = target
    member.tier_achieved_at = now
    return change


@dataclass
class TierEvaluation:
    evaluated: int = 0
    promoted: int = 0
    demoted: int = 0


def tiers_evaluate(*, now: datetime | None = None, chunk_size: int = 2000) -> TierEvaluation:
    """Refresh every member's rolling growth value and apply the tier rules.

    Promotion: to the highest tier whose threshold the rolling value reaches (normally already done
    by ``growth_add``; this catches values that changed otherwise). Demotion — the grace rule: a tier
    is guaranteed for ``TIER_GUARANTEE_DAYS`` from when it was reached; at the first evaluation after
    that, a member below the tier's threshold moves down one tier, and the guarantee starts again.
    Runs a chunk of members per transaction, in primary-key order; safe to re-run and to interrupt.
    """
    now = now or timezone.now()
    tiers = list(Tier.objects.order_by("rank"))
    tiers_by_pk = {tier.pk: tier for tier in tiers}
    one_lower = {tier.pk: tiers[index - 1] for index, tier in enumerate(tiers) if index > 0}
    guarantee_cutoff = now - timedelta(days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
    result = TierEvaluation()
    last_pk = 0
    while True:
        with transaction.atomic():
            members = lock_active_members_after(member_id=last_pk, limit=chunk_size)
            if not members:
                return result
            growth = _rolling_growth([member.pk for member in members], now)
            changes, dirty = [], []
            for member in members:
                member.tier = tiers_by_pk[member.tier_id]
                value = growth.get(member.pk, 0)
                target = _qualifying_tier(tiers, value)
                is_dirty = value != member.growth_value
                member.growth_value = value
                if target.rank > member.tier.rank:
                    changes.append(_tier_change(member, target, TierChangeKind.PROMOTION, now, None))
                    result.promoted += 1
                    is_dirty = True
                elif target.rank < member.tier.rank and member.tier_achieved_at <= guarantee_cutoff:
                    changes.append(_tier_change(member, one_lower[member.tier.pk], TierChangeKind.DEMOTION, now, None))
                    result.demoted += 1
                    is_dirty = True
                if is_dirty:
                    member.updated_at = now
                    dirty.append(member)
            TierChange.objects.bulk_create(changes)
            outbox_emit_many(events=tier_events(changes), types=[EventType.TIER_CHANGED])
            Member.objects.bulk_update(dirty, ["tier", "tier_achieved_at", "growth_value", "updated_at"])
            result.evaluated += len(members)
            last_pk = members[-1].pk


@transaction.atomic
def tier_save(*, tier: Tier) -> Tier:
    """Create or edit a tier; the lowest tier must stay at threshold 0 so every member has a tier."""
    others = Tier.objects.exclude(pk=tier.pk)
    if others.filter(rank=tier.rank).exists():
        raise ApplicationError("duplicate_rank", _("Another tier already has this rank."), fields={"rank": tier.rank})
    lowest_other = others.order_by("rank").first()
    is_lowest = lowest_other is None or tier.rank < lowest_other.rank
    if is_lowest and tier.threshold != 0:
        raise ApplicationError("invalid_threshold", _("The lowest tier must have a threshold of 0."), fields={"threshold": tier.threshold})
    if others.filter(Q(rank__lt=tier.rank, threshold__gte=tier.threshold) | Q(rank__gt=tier.rank, threshold__lte=tier.threshold)).exists():
        raise ApplicationError("invalid_threshold", _("Thresholds must rise with rank."), fields={"threshold": tier.threshold})
    tier.save()
    return tier
