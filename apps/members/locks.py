"""The one place members' rows are locked.

The product's lock order (docs/architecture.md): campaign → run → benefit / event → member → points account →
grant / registration; several rows of one kind in primary-key order. Members and points accounts come after
the benefit or event a service works on and before the grants or registrations it writes.
"""

from collections.abc import Iterable

from apps.members.models import Member, PointsAccount


def lock_member(*, member_id: int) -> Member:
    return Member.objects.select_for_update().get(pk=member_id)


def lock_members(*, member_ids: Iterable[int]) -> list[Member]:
    return list(Member.objects.select_for_update().filter(pk__in=set(member_ids)).order_by("pk"))


def lock_points_account(*, member_id: int) -> PointsAccount:
    """One account with its member (one statement locks both, member first in the order)."""
    return PointsAccount.objects.select_for_update().select_related("member").get(member_id=member_id)


def lock_points_accounts_by_id(*, account_ids: Iterable[int]) -> list[PointsAccount]:
    return list(PointsAccount.objects.select_for_update().filter(pk__in=set(account_ids)).order_by("pk"))


def lock_points_accounts(*, member_ids: Iterable[int]) -> list[PointsAccount]:
    """Several accounts with their members, in account order (accounts are created with their members, so ids agree)."""
    return list(PointsAccount.objects.select_for_update().select_related("member").filter(member_id__in=set(member_ids)).order_by("pk"))
