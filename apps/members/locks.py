"""The one place members' rows are locked.

The product's lock order (docs/architecture.md): campaign → run → benefit / event → member → points account →
grant / registration; several rows of one kind in primary-key order. Members and points accounts come after
the benefit or event a service works on and before the grants or registrations it writes. A staff adjustment
takes the staff member's user row (or the adjustment it decides) before the account.
"""

from collections.abc import Iterable

from apps.core.models import User
from apps.members.models import Consent, Member, MemberStatus, PointsAccount, PointsAdjustment


def lock_member(*, member_id: int) -> Member:
    return Member.objects.select_for_update().get(pk=member_id)


def lock_members(*, member_ids: Iterable[int]) -> list[Member]:
    return list(Member.objects.select_for_update().filter(pk__in=set(member_ids)).order_by("pk"))


def lock_active_members_after(*, member_id: int, limit: int) -> list[Member]:
    """The next ``limit`` active members after ``member_id``, in key order (a chunk of a job over every member)."""
    return list(Member.objects.select_for_update().filter(pk__gt=member_id, status=MemberStatus.ACTIVE).order_by("pk")[:limit])


def lock_consent(*, member_id: int, channel: str) -> Consent | None:
    return Consent.objects.select_for_update().filter(member_id=member_id, channel=channel).first()


def lock_points_account(*, member_id: int) -> PointsAccount:
    """One account with its member (one statement locks both, member first in the order)."""
    return PointsAccount.objects.select_for_update().select_related("member").get(member_id=member_id)


def lock_points_accounts_by_id(*, account_ids: Iterable[int]) -> list[PointsAccount]:
    return list(PointsAccount.objects.select_for_update().filter(pk__in=set(account_ids)).order_by("pk"))


def lock_points_accounts(*, member_ids: Iterable[int]) -> list[PointsAccount]:
    """Several accounts with their members, in account order (accounts are created with their members, so ids agree).

    Only what crediting many members reads is loaded (a chunk is thousands of rows): the balance, and the member's
    status and the identifiers its ledger text must not contain.
    """
    return list(
        PointsAccount.objects.select_for_update()
        .select_related("member")
        .only("balance", "member__status", "member__phone", "member__email")
        .filter(member_id__in=set(member_ids))
        .order_by("pk")
    )


def lock_staff_user(*, user_id: int) -> User:
    """A staff member's adjustments queue on their user row, so racing requests cannot each spend the whole daily allowance."""
    return User.objects.select_for_update().get(pk=user_id)


def lock_points_adjustment(*, adjustment_id: int) -> PointsAdjustment:
    return PointsAdjustment.objects.select_for_update().select_related("requested_by").get(pk=adjustment_id)
