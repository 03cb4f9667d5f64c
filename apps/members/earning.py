"""Purchase earning: a purchase reported to the programme earns points and growth value where the points are kept.

``purchase_earn`` is the reaction to a newly stored purchase (registered with ``apps.core.activity`` from
``MembersConfig.ready()``): the analytics ingest stores the event and runs it in the same transaction, so the points
are part of the ingest's answer and a retried event, stored once, earns once.
"""

from decimal import ROUND_DOWN, Decimal

from django.conf import settings

from apps.core.activity import StoredActivity
from apps.core.reasons import Reason
from apps.members.models import Member, MemberStatus
from apps.members.services import growth_add, points_earn


def purchase_points(*, amount: Decimal, multiplier: Decimal) -> tuple[int, int]:
    """Points (amount × points per yuan × tier multiplier) and growth value (amount × growth per yuan), rounded down."""
    rates = settings.USEROPS_ANALYTICS
    points = int((amount * Decimal(rates["POINTS_PER_YUAN"]) * multiplier).to_integral_value(rounding=ROUND_DOWN))
    growth = int((amount * Decimal(rates["GROWTH_PER_YUAN"])).to_integral_value(rounding=ROUND_DOWN))
    return points, growth


def purchase_earn(event: StoredActivity) -> int:
    """Earn points and growth value for a newly stored purchase; the points earned, 0 when the member is not active.

    Runs inside the caller's savepoint: when either write is refused, neither is kept."""
    member = Member.objects.select_related("tier").get(pk=event.member_id)
    if member.status != MemberStatus.ACTIVE or event.amount is None:
        return 0
    points, growth = purchase_points(amount=event.amount, multiplier=member.tier.points_multiplier)
    reason = Reason("purchase")
    source_ref = f"purchase:{event.source}:{event.event_id}"[:128]
    if points > 0:
        points_earn(member=member, amount=points, reason=reason, source_ref=source_ref, client=event.client)
    if growth > 0:
        growth_add(member=member, amount=growth, reason=reason, source_ref=source_ref)
    return max(points, 0)
