from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.formats import date_format, time_format
from django.utils.translation import gettext as _

from apps.benefits.filters import GrantFilter
from apps.benefits.models import Benefit, BenefitStatus, Grant, GrantState, normalize_code
from apps.core.errors import ApplicationError
from apps.members.models import Member


def member_grants(*, member: Member, filters: dict[str, Any] | None = None) -> QuerySet[Grant]:
    queryset = Grant.objects.filter(member=member).select_related("benefit", "redemption").order_by("-issued_at", "-id")
    return GrantFilter(data=filters or {}, queryset=queryset).qs


def grant_by_code(*, code: str) -> Grant:
    grant = Grant.objects.select_related("benefit", "member", "redemption").filter(code=normalize_code(code)).first()
    if grant is None:
        raise ApplicationError("grant_not_found", _("No such grant."), http_status=404)
    return grant


def _on_at(moment: datetime) -> dict[str, str]:
    local = timezone.localtime(moment)
    return {"date": date_format(local, "Y-m-d"), "time": time_format(local, "H:i")}


def grant_unusable_reason(*, grant: Grant, now: datetime | None = None) -> str | None:
    """Why a grant can no longer be redeemed or revoked, with when it happened in the operator's time zone; None if it can."""
    now = now or timezone.now()
    if grant.state == GrantState.REDEEMED:
        return _("This grant was already redeemed on %(date)s at %(time)s.") % _on_at(grant.closed_at)
    if grant.state == GrantState.REVOKED:
        return _("This grant was revoked on %(date)s at %(time)s: %(reason)s") % {**_on_at(grant.closed_at), "reason": grant.revoke_reason}
    if grant.state == GrantState.EXPIRED or grant.valid_until <= now:
        return _("This grant expired on %(date)s at %(time)s.") % _on_at(grant.closed_at or grant.valid_until)
    return None


def mall_catalogue() -> QuerySet[Benefit]:
    """Every benefit on sale for points, cheapest first, with the tiers that may buy it."""
    return (
        Benefit.objects.filter(status=BenefitStatus.ACTIVE, points_price__isnull=False)
        .prefetch_related("eligible_tiers")
        .order_by("points_price", "pk")
    )


def mall_offers(*, member: Member) -> QuerySet[Benefit]:
    """Benefits on sale for points that the member's tier may buy, cheapest first."""
    return (
        Benefit.objects.filter(status=BenefitStatus.ACTIVE, points_price__isnull=False)
        .filter(Q(eligible_tiers__isnull=True) | Q(eligible_tiers=member.tier_id))
        .distinct()
        .order_by("points_price", "pk")
    )


def benefit_get(*, pk: int) -> Benefit:
    benefit = Benefit.objects.filter(pk=pk).first()
    if benefit is None:
        raise ApplicationError("benefit_not_found", _("No such benefit."), http_status=404)
    return benefit


@dataclass(frozen=True)
class BenefitStats:
    issued: int
    redeemed: int
    expired: int
    revoked: int
    redemption_rate: Decimal | None
    cost_to_date: Decimal


def benefit_stats(*, benefit: Benefit) -> BenefitStats:
    """Redemption rate = redeemed ÷ (issued ever − revoked); cost to date = unit cost of every unrevoked grant."""
    counts = dict(Grant.objects.filter(benefit=benefit).values_list("state").annotate(n=Count("id")).order_by())
    issued_total = sum(counts.values())
    revoked = counts.get(GrantState.REVOKED, 0)
    redeemed = counts.get(GrantState.REDEEMED, 0)
    live = issued_total - revoked
    cost = Grant.objects.filter(benefit=benefit).exclude(state=GrantState.REVOKED).aggregate(total=Sum("cost"))["total"] or Decimal("0.00")
    return BenefitStats(
        issued=issued_total,
        redeemed=redeemed,
        expired=counts.get(GrantState.EXPIRED, 0),
        revoked=revoked,
        redemption_rate=(Decimal(redeemed) * 100 / live).quantize(Decimal("0.1")) if live else None,
        cost_to_date=cost,
    )
