"""What is about to expire or drop, summarised per member (reads only)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Min, Q, QuerySet, Sum

from apps.benefits.models import Grant, GrantState
from apps.members.models import Member, MemberStatus, PointsLot
from apps.members.tier_rules import decide, standings, tier_rules


def points_expiring_by_member(*, start: datetime, end: datetime) -> QuerySet:
    """Per member with points expiring in (start, end]: ``member_id``, ``points`` (still unspent), ``first`` expiry."""
    return (
        PointsLot.objects.filter(remaining__gt=0, expires_at__gt=start, expires_at__lte=end)
        .values(member_id=F("account__member_id"))
        .annotate(points=Sum("remaining"), first=Min("expires_at"))
        .order_by("member_id")
    )


def grants_expiring_by_member(*, start: datetime, end: datetime) -> QuerySet:
    """Per member with unused grants expiring in (start, end]: ``member_id``, ``grants`` (how many), ``first`` expiry."""
    return (
        Grant.objects.filter(state=GrantState.ISSUED, valid_until__gt=start, valid_until__lte=end)
        .values("member_id")
        .annotate(grants=Count("id"), first=Min("valid_until"))
        .order_by("member_id")
    )


def first_expiring_benefit_names(*, member_ids: list[int], start: datetime, end: datetime) -> dict[int, str]:
    """For each member, the name of the benefit whose unused grant expires first in the window."""
    names: dict[int, str] = {}
    rows = (
        Grant.objects.filter(member_id__in=member_ids, state=GrantState.ISSUED, valid_until__gt=start, valid_until__lte=end)
        .order_by("member_id", "valid_until", "id")
        .values_list("member_id", "benefit__name")
    )
    for member_id, name in rows:
        names.setdefault(member_id, name)
    return names


@dataclass(frozen=True)
class TierDrop:
    """A member whose tier would drop at the evaluation on ``at`` if nothing changes until then."""

    member_id: int
    tier_id: int
    target_tier_id: int
    growth_needed: int
    period: str  # the tier period the drop falls in: a member is reminded once per period


def _period(member: Member, at: datetime) -> str:
    """The guarantee period of the member's tier that ``at`` falls in (the tier reached, then every guarantee length
    after it): a member who stays at risk is reminded once per period, not every day."""
    length = timedelta(days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
    elapsed = max(at - member.tier_achieved_at, timedelta(0))
    return f"{member.tier_achieved_at:%Y%m%d}.{elapsed // length if length else 0}"


def tier_drops_ahead(*, at: datetime, chunk_size: int = 2000) -> Iterator[list[TierDrop]]:
    """Chunks of active members the tier evaluation would move to a lower tier on ``at`` if they earned nothing more
    (``apps.members.tier_rules.decide`` on their standing then: growth and metrics in the window ending ``at``).

    Set-based: only members whose guarantee and assignment have ended by ``at`` (or who hold an invitation-only tier)
    and who are above the lowest tier are read, in primary-key chunks, with one query per metric per chunk.
    """
    rules = tier_rules()
    if len(rules) < 2:
        return
    by_id = {rule.tier_id: rule for rule in rules}
    guarantee_ended = at - timedelta(days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
    candidates = (
        Member.objects.filter(status=MemberStatus.ACTIVE, tier__rank__gt=rules[0].rank)
        .filter(Q(tier_assigned_until__isnull=True) | Q(tier_assigned_until__lte=at))
        .filter(Q(tier_achieved_at__lte=guarantee_ended) | Q(tier__invitation_only=True))
        .only("pk", "tier_id", "tier_achieved_at", "tier_assigned_until")
        .order_by("pk")
    )
    last_pk = 0
    while True:
        members = list(candidates.filter(pk__gt=last_pk)[:chunk_size])
        if not members:
            return
        figures = standings([member.pk for member in members], rules, at)
        drops = []
        for member in members:
            decision = decide(member, rules, figures[member.pk], at)
            current = by_id[member.tier_id]
            if decision.kind and decision.target.rank < current.rank:  # a demotion, or an assignment ending lower
                needed = max(current.threshold - figures[member.pk].growth, 0) if "growth" in decision.unmet else 0
                drops.append(TierDrop(member.pk, member.tier_id, decision.target.tier_id, needed, _period(member, at)))
        if drops:
            yield drops
        last_pk = members[-1].pk
