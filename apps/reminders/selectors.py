"""What is about to expire, summarised per member (reads only)."""

from datetime import datetime

from django.db.models import Count, F, Min, QuerySet, Sum

from apps.benefits.models import Grant, GrantState
from apps.members.models import PointsLot


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
