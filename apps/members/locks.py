"""The one place members' rows are locked.

The product's lock order (docs/architecture.md): campaign → run → benefit / event → member → points account →
grant / registration; several rows of one kind in primary-key order. Members and points accounts come after
the benefit or event a service works on and before the grants or registrations it writes. A staff adjustment
takes the staff member's user row (or the adjustment it decides) before the account.
"""

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, models
from django.db.models.base import ModelState
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.members.models import Consent, GrowthAdjustment, Member, MemberStatus, PointsAccount, PointsAdjustment, Tier

ModelType = TypeVar("ModelType", bound=models.Model)


def lock_member(*, member_id: int) -> Member:
    return Member.objects.select_for_update().get(pk=member_id)


def lock_members(*, member_ids: Iterable[int]) -> list[Member]:
    return list(Member.objects.select_for_update().filter(pk__in=set(member_ids)).order_by("pk"))


def lock_members_for_growth(*, member_ids: Iterable[int]) -> list[Member]:
    """Several members whose growth value (and tier) change, in key order, FOR NO KEY UPDATE: the lock
    ``lock_points_accounts`` takes on a member, so members a store of activities already locked with their
    accounts are not locked again more strongly (no column a foreign key points at changes)."""
    return list(Member.objects.select_for_update(no_key=True).filter(pk__in=set(member_ids)).order_by("pk"))


def lock_members_to_pay(member_ids: Iterable[int]) -> None:
    """Every member a store of activities may pay, with its points account, by one statement in key order and
    in the row order ``lock_points_accounts`` takes (account, then member): run before the first reaction pays,
    so the growth value, points and purchase earning after it lock nothing new, and a campaign chunk paying the
    same members waits for the store or the store for it, never each for the other."""
    member_ids = sorted(set(member_ids))
    if not member_ids or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_TO_PAY_SQL, [member_ids])


def lock_active_members_after(*, member_id: int, limit: int) -> list[Member]:
    """The next ``limit`` active members after ``member_id``, in key order (a chunk of a job over every member)."""
    return list(Member.objects.select_for_update().filter(pk__gt=member_id, status=MemberStatus.ACTIVE).order_by("pk")[:limit])


def lock_consent(*, member_id: int, channel: str) -> Consent | None:
    return Consent.objects.select_for_update().filter(member_id=member_id, channel=channel).first()


def lock_points_account(*, member_id: int) -> PointsAccount:
    """One account with its member, locked by one statement.

    Every member has an account from enrolment, so no account means no such member: the same 404 a member lookup
    answers, which lets a caller holding only the member's id skip loading the member first.
    """
    try:
        return PointsAccount.objects.select_for_update().select_related("member").get(member_id=member_id)
    except PointsAccount.DoesNotExist as exc:
        raise ApplicationError("not_found", _("No such member."), http_status=404) from exc


def lock_points_accounts_by_id(*, account_ids: Iterable[int]) -> list[PointsAccount]:
    return list(PointsAccount.objects.select_for_update().filter(pk__in=set(account_ids)).order_by("pk"))


def lock_points_accounts(*, member_ids: Iterable[int]) -> list[PointsAccount]:
    """Several accounts with their members, in account order (accounts are created with their members, so ids agree).

    One statement, rows locked as they come in key order: each account FOR UPDATE, then its member FOR NO KEY
    UPDATE (per row the same order as ``lock_points_account``). The member's status is held still (a status
    change is an update and waits), but the key-share locks that inserting rows pointing at a member takes (an
    action row, a grant, a message) do not wait for it, nor does it wait for them: a campaign chunk can record
    the members it skips without locking their accounts first.

    The rows are read as tuples and only what crediting many members reads is loaded (a chunk is thousands of
    rows): the balance, and the member's status and the identifiers its ledger text must not contain (all of
    them: a field left out would be read back one query per member when a reason must be checked). The ids go
    as one array parameter, not a literal each.
    """
    member_ids = sorted(set(member_ids))
    if not member_ids:
        return []
    if connection.vendor != "postgresql":
        return list(
            PointsAccount.objects.select_for_update()
            .select_related("member")
            .only("balance", "member__name", "member__status", "member__phone", "member__email")
            .filter(member_id__in=member_ids)
            .order_by("pk")
        )
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ACCOUNTS_SQL, [member_ids])
        rows = cursor.fetchall()
    split = len(_ACCOUNT_FIELDS)
    accounts = []
    for row in rows:
        account = _loaded(PointsAccount, _ACCOUNT_FIELDS, row[:split])
        account._state.fields_cache["member"] = _loaded(Member, _MEMBER_FIELDS, row[split:])
        accounts.append(account)
    return accounts


def _loaded(model: type[ModelType], attnames: list[str], values: Sequence[Any]) -> ModelType:
    """An instance of a partial row, as ``Model.from_db`` makes it (the fields left out are deferred) but without
    running ``__init__``: its per-field work and its init signals were most of the time of locking a chunk of
    thousands of accounts with their members. These two models have no init signal receivers (tested)."""
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    instance._state = ModelState()
    instance._state.adding, instance._state.db = False, DEFAULT_DB_ALIAS
    return instance


def _in_field_order(model: type[models.Model], attnames: set[str]) -> list[str]:
    """``attnames`` in the order of the model's fields, the order ``Model.from_db`` reads a partial row in."""
    return [field.attname for field in model._meta.concrete_fields if field.attname in attnames]


_ACCOUNT_FIELDS = _in_field_order(PointsAccount, {"id", "member_id", "balance"})
_MEMBER_FIELDS = _in_field_order(Member, {"id", "name", "status", "phone", "email"})
# Built from our own model metadata only (no input): the ids are the one parameter.
_COLUMNS = [f"account.{name}" for name in _ACCOUNT_FIELDS] + [f"member.{name}" for name in _MEMBER_FIELDS]
_LOCK_ACCOUNTS_SQL = (
    f"SELECT {', '.join(_COLUMNS)}"  # noqa: S608
    f" FROM {PointsAccount._meta.db_table} AS account JOIN {Member._meta.db_table} AS member ON member.id = account.member_id"
    " WHERE account.member_id = ANY(%s) ORDER BY account.id FOR UPDATE OF account FOR NO KEY UPDATE OF member"
)


_LOCK_TO_PAY_SQL = (
    f"SELECT account.id FROM {PointsAccount._meta.db_table} AS account"  # noqa: S608
    f" JOIN {Member._meta.db_table} AS member ON member.id = account.member_id"
    " WHERE account.member_id = ANY(%s) ORDER BY account.id FOR UPDATE OF account FOR NO KEY UPDATE OF member"
)


def lock_staff_user(*, user_id: int) -> User:
    """A staff member's adjustments queue on their user row, so racing requests cannot each spend the whole daily allowance."""
    return User.objects.select_for_update().get(pk=user_id)


def lock_points_adjustment(*, adjustment_id: int) -> PointsAdjustment:
    return PointsAdjustment.objects.select_for_update().select_related("requested_by").get(pk=adjustment_id)


def lock_growth_adjustment(*, adjustment_id: int) -> GrowthAdjustment:
    return GrowthAdjustment.objects.select_for_update().select_related("requested_by").get(pk=adjustment_id)


def lock_tiers() -> list[Tier]:
    """Every tier, in key order: saving several tiers' thresholds together (they are checked against each other)."""
    return list(Tier.objects.select_for_update().order_by("pk"))
