"""How a member qualifies for a tier, shared by promotion on growth, the nightly evaluation and the what-if page.

A tier's qualification combines its growth-value threshold with optional further conditions: purchases and spend in
the rolling window, an RFM segment. Members is the lowest business app and cannot read analytics' tables, so the
figures behind those conditions come from *tier metrics* registered here by a higher app
(``register_tier_metric``, called from ``AnalyticsConfig.ready()``). Each metric is computed set-based: one call per
chunk of members, answering ``{member_id: value}`` for the members it knows (the others count as 0 or no segment).

The rules (docs/rules.md, "Growth value and tiers"):

- a member *qualifies* for a tier when the rolling growth value reaches its threshold AND every further condition the
  tier sets holds (conditions left empty are not checked);
- the tier a member qualifies for is the highest-ranked tier that is not invitation-only among those they qualify for;
  the lowest tier has no conditions, so everyone qualifies for at least it;
- promotion is at once (on growth, or at the evaluation); demotion follows the grace rule in ``decide``.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from apps.members.models import GrowthEntry, Member, Tier

# Metric names the tier conditions read.
PURCHASES = "purchases"
SPEND = "spend"
RFM_SEGMENT = "rfm_segment"


@dataclass(frozen=True)
class TierMetric:
    name: str
    label: Any
    # (member ids, window start (exclusive), window end (inclusive)) → {member_id: value}
    compute: Callable[[list[int], datetime, datetime], dict[int, Any]]
    # For a metric whose values are codes (the RFM segment): the codes and their labels.
    choices: Callable[[], Sequence[tuple[str, Any]]] | None = None


TIER_METRICS: dict[str, TierMetric] = {}


def register_tier_metric(
    name: str,
    *,
    label: Any,
    compute: Callable[[list[int], datetime, datetime], dict[int, Any]],
    choices: Callable[[], Sequence[tuple[str, Any]]] | None = None,
) -> None:
    """Make ``name`` available to tier conditions (``purchases``, ``spend``, ``rfm_segment``): a later registration
    of the same name replaces the earlier one."""
    TIER_METRICS[name] = TierMetric(name=name, label=label, compute=compute, choices=choices)


def metric_choices(name: str) -> list[tuple[str, Any]]:
    metric = TIER_METRICS.get(name)
    return list(metric.choices()) if metric and metric.choices else []


@dataclass(frozen=True)
class TierRule:
    """A tier's qualification as plain values: the tier as stored, or as the what-if page proposes it."""

    tier_id: int
    rank: int
    name: str
    threshold: int
    min_purchases: int | None = None
    min_spend: Decimal | None = None
    rfm_segments: tuple[str, ...] = ()
    invitation_only: bool = False

    @classmethod
    def of(cls, tier: Tier) -> "TierRule":
        return cls(
            tier_id=tier.pk,
            rank=tier.rank,
            name=str(tier),
            threshold=tier.threshold,
            min_purchases=tier.min_purchases,
            min_spend=tier.min_spend,
            rfm_segments=tuple(tier.rfm_segments or ()),
            invitation_only=tier.invitation_only,
        )

    @property
    def metrics(self) -> set[str]:
        needed = set()
        if self.min_purchases is not None:
            needed.add(PURCHASES)
        if self.min_spend is not None:
            needed.add(SPEND)
        if self.rfm_segments:
            needed.add(RFM_SEGMENT)
        return needed


def tier_rules() -> list[TierRule]:
    return [TierRule.of(tier) for tier in Tier.objects.order_by("rank")]


@dataclass
class Standing:
    """What a member's qualification is measured on."""

    growth: int = 0
    purchases: int = 0
    spend: Decimal = Decimal(0)
    rfm_segment: str = ""


def unmet(rule: TierRule, standing: Standing) -> list[str]:
    """The conditions of ``rule`` that ``standing`` does not meet (metric names, growth as ``growth``)."""
    missing = []
    if standing.growth < rule.threshold:
        missing.append("growth")
    if rule.min_purchases is not None and standing.purchases < rule.min_purchases:
        missing.append(PURCHASES)
    if rule.min_spend is not None and standing.spend < rule.min_spend:
        missing.append(SPEND)
    if rule.rfm_segments and standing.rfm_segment not in rule.rfm_segments:
        missing.append(RFM_SEGMENT)
    return missing


def qualifying_rule(rules: Sequence[TierRule], standing: Standing) -> TierRule:
    """The highest tier ``standing`` qualifies for, invitation-only tiers aside (the lowest tier when none)."""
    earned = [rule for rule in rules if not rule.invitation_only and not unmet(rule, standing)]
    return max(earned, key=lambda rule: rule.rank) if earned else rules[0]


def window(now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=settings.USEROPS["GROWTH_WINDOW_DAYS"]), now


def rolling_growth(member_ids: list[int], now: datetime) -> dict[int, int]:
    since, until = window(now)
    rows = (
        GrowthEntry.objects.filter(member_id__in=member_ids, created_at__gt=since, created_at__lte=until)
        .values("member_id")
        .annotate(total=Sum("amount"))
    )
    return {row["member_id"]: row["total"] for row in rows}


def standings(member_ids: list[int], rules: Iterable[TierRule], now: datetime) -> dict[int, Standing]:
    """Each member's standing: the rolling growth value and the metrics some tier's conditions need — one query per
    metric for the whole set, none for a metric no tier uses."""
    needed = set().union(*(rule.metrics for rule in rules))
    missing = needed - set(TIER_METRICS)
    if missing:
        raise LookupError(f"tier conditions need metrics nobody registered: {sorted(missing)}")
    since, until = window(now)
    result = {member_id: Standing() for member_id in member_ids}
    for member_id, value in rolling_growth(member_ids, now).items():
        result[member_id].growth = value
    for name in sorted(needed):
        for member_id, value in TIER_METRICS[name].compute(member_ids, since, until).items():
            if member_id in result:
                setattr(result[member_id], name, value if value is not None else getattr(Standing(), name))
    return result


@dataclass(frozen=True)
class Decision:
    """Where the evaluation moves a member: ``kind`` is "promotion", "demotion", "assignment_ended" or "" (stays)."""

    target: TierRule
    kind: str = ""
    qualified: TierRule | None = None
    unmet: tuple[str, ...] = field(default=())
    ends_assignment: bool = False


def decide(member: Member, rules: Sequence[TierRule], standing: Standing, now: datetime) -> Decision:
    """Apply the tier rules to one member (the member's ``tier_id``, ``tier_achieved_at`` and ``tier_assigned_until``).

    - Promotion: the qualifying tier ranks above the member's tier → the member moves up to it at once (an assignment
      then ends: the member earned more than they were given).
    - An assignment that has not ended protects the member from any demotion.
    - An assignment that has ended: on an invitation-only tier the member moves to the tier they qualify for; on
      another tier the normal rules apply from then on (the guarantee counting from the assignment).
    - Demotion, the grace rule: a tier is guaranteed for ``TIER_GUARANTEE_DAYS`` from when it was reached; after that,
      a member who does not qualify for it moves down one tier (the next lower that is not invitation-only, never below
      the tier they qualify for) and the guarantee starts again.
    """
    by_id = {rule.tier_id: rule for rule in rules}
    current = by_id[member.tier_id]
    qualified = qualifying_rule(rules, standing)
    assigned_until = member.tier_assigned_until
    if qualified.rank > current.rank:
        return Decision(target=qualified, kind="promotion", qualified=qualified, ends_assignment=assigned_until is not None)
    if assigned_until is not None and assigned_until > now:
        return Decision(target=current, qualified=qualified)
    ended = assigned_until is not None
    if qualified.rank == current.rank:
        return Decision(target=current, qualified=qualified, ends_assignment=ended)
    missing = tuple(unmet(current, standing))
    if current.invitation_only:
        return Decision(
            target=qualified, kind="assignment_ended" if ended else "demotion", qualified=qualified, unmet=missing, ends_assignment=ended
        )
    guarantee_cutoff = now - timedelta(days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
    if member.tier_achieved_at > guarantee_cutoff:
        return Decision(target=current, qualified=qualified, ends_assignment=ended)
    lower = [rule for rule in rules if rule.rank < current.rank and not rule.invitation_only]
    one_lower = max(lower, key=lambda rule: rule.rank) if lower else qualified
    target = one_lower if one_lower.rank >= qualified.rank else qualified
    return Decision(target=target, kind="demotion", qualified=qualified, unmet=missing, ends_assignment=ended)
