"""The points and growth-value ledger: the only module that writes ledger rows, opens lots and moves balances.

Two ways in, one way down. The services for one member (``points_earn``, ``points_spend``, ``points_adjust``,
``points_reverse``) and the set-based ``points_credit_many`` (imports, campaigns, earning rules) and
``points_expire_due`` all hand their rows to ``_write``, which builds each ledger row, opens a lot for each
credit, inserts them, and stores the balances of every account touched in one statement.

Accounts are locked only through ``apps.members.locks``: the member with its account (one statement locks
both), several accounts in primary-key order, so a single earn and a chunk of a campaign never deadlock.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.bulk_insert import allocate_ids, insert_rows, insert_values
from apps.core.db import atomic_checks_first
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, User
from apps.core.outbox import Event, outbox_emit_many, outbox_insert_statement, outbox_wanted
from apps.core.reasons import Reason, reason_fields
from apps.core.references import SystemRef
from apps.members.locks import (
    lock_growth_adjustment,
    lock_member,
    lock_members_for_growth,
    lock_points_account,
    lock_points_accounts,
    lock_points_accounts_by_id,
    lock_points_adjustment,
    lock_staff_user,
)
from apps.members.models import (
    AdjustmentState,
    GrowthAdjustment,
    GrowthEntry,
    Member,
    MemberStatus,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsEntryKind,
    PointsLot,
    PointsLotUse,
    TierChange,
)
from apps.members.outbox_events import POINTS_EVENT_TYPES, points_events
from apps.members.personal_data import refuse_personal_data_in_text
from apps.members.selectors import adjust_allowance_left, growth_adjust_allowance_left
from apps.members.services.tiers import tier_promote_on_growth, tiers_promote_on_growth_many
from apps.members.tier_rules import rolling_growth

MAX_POINTS_PER_OPERATION = 100_000_000
# COPY needs a round trip more than one INSERT, which a single earn would feel; from this many rows it wins.
COPY_FROM_ROWS = 50
CREDIT_KINDS = (PointsEntryKind.EARN, PointsEntryKind.MIGRATE)


# Checks ------------------------------------------------------------------------------------------


def _positive_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ApplicationError("invalid_amount", _("Points must be a whole number."), fields={"amount": amount})
    if amount <= 0:
        raise ApplicationError("invalid_amount", _("Points must be more than zero."), fields={"amount": amount})
    if amount > MAX_POINTS_PER_OPERATION:
        raise ApplicationError("invalid_amount", _("Too many points for one operation."), fields={"amount": amount})
    return amount


def _reason(reason: str | Reason) -> dict[str, Any]:
    """The reason columns of a ledger row: a system reason's code and parameters, or the text staff typed."""
    if isinstance(reason, Reason):
        return reason_fields(reason)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": ""})
    return reason_fields(reason)


def _require_status(member: Member, allowed: set[str]) -> None:
    if member.status not in allowed:
        code = {MemberStatus.FROZEN: "member_frozen", MemberStatus.PROSPECT: "member_not_enrolled"}.get(member.status, "member_closed")
        raise ApplicationError(code, _("The member's account is %(status)s.") % {"status": member.get_status_display()}, http_status=409)


def _future_expiry(expires_at: datetime | None, now: datetime) -> datetime:
    expires_at = expires_at or default_points_expiry(now)
    if expires_at <= now:
        raise ApplicationError("invalid_expiry", _("The expiry must be in the future."), fields={"expires_at": str(expires_at)})
    return expires_at


def _may_name_member(account: "PointsAccount | _OpenedAccount", text: str) -> bool:
    """Whether ``text`` could hold the member's email (it has an "@") or phone number (at least as many digits).

    Cheap, and exact as a filter: only text that passes is searched. Most ledger text (system reasons, references
    such as ``import:row:12``) does not, and the member's row is then not read at all. A reference built from our
    own keys (``SystemRef``, such as ``rule:12:activity:3456``) never does, however many digits its ids have.
    """
    if isinstance(text, SystemRef):
        return False
    if "@" in text:
        return True
    digits = sum(map(str.isdigit, text))
    if not digits:
        return False
    phone = account.member.phone
    # The national number searched for has at most two digits fewer than the stored E.164 number ("+" aside).
    return bool(phone) and digits >= len(phone) - 3


def _member_id(member: Member | int) -> int:
    return member if isinstance(member, int) else member.pk


def default_points_expiry(now: datetime) -> datetime:
    return now + timedelta(days=settings.USEROPS["POINTS_VALIDITY_DAYS"])


# The one write path ------------------------------------------------------------------------------


class AccountOwner(NamedTuple):
    """Who a new points account belongs to, and the identifiers its ledger text must not contain."""

    member_id: int
    phone: str | None
    email: str
    name: str


@dataclass
class _OpenedAccount:
    """An account inserted in this transaction, as ``_write`` reads it (a chunk opens thousands: no model instances)."""

    pk: int
    member: AccountOwner
    balance: int = 0

    @property
    def member_id(self) -> int:
        return self.member.member_id


@dataclass
class _Move:
    """One ledger row about to be written on a locked (or just opened) account; ``opens_lot`` for credits that can be
    spent later."""

    account: PointsAccount | _OpenedAccount
    kind: str
    amount: int
    reason: dict[str, Any]
    source_ref: str = ""
    expires_at: datetime | None = None
    opens_lot: bool = False
    actor: User | None = None
    client: ApiClient | None = None
    reverses: PointsEntry | None = None
    idempotency_key: str = ""


def _insert(model: type[models.Model], rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (every column by attname but the key) and return their keys, in order."""
    if len(rows) < COPY_FROM_ROWS:
        return [obj.pk for obj in model._default_manager.bulk_create([model(**row) for row in rows])]
    ids = allocate_ids(model, len(rows))
    insert_rows(model, [{"id": pk, **row} for pk, row in zip(ids, rows, strict=True)])
    return ids


def _insert_unkeyed(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """``_insert`` for rows nothing points at: their keys come from the table's default, not reserved first."""
    if len(rows) < COPY_FROM_ROWS:
        model._default_manager.bulk_create([model(**row) for row in rows])
    else:
        insert_rows(model, rows)


def _store_balances(accounts: Iterable[PointsAccount], now: datetime, events: list[Event]) -> None:
    """The balances of the accounts written, with the outbox events of their rows, in one statement."""
    accounts = list({account.pk: account for account in accounts}.values())
    if connection.vendor != "postgresql":
        for account in accounts:
            account.updated_at = now
        PointsAccount.objects.bulk_update(accounts, ["balance", "updated_at"])
        outbox_emit_many(events=events, occurred_at=now)
        return
    # The outbox rows ride in the balance update (a data-modifying CTE): a subscriber costs the write path no round
    # trip, and the rows commit or roll back with the ledger.
    outbox_sql, outbox_params = outbox_insert_statement(events=events, occurred_at=now) if events else ("", [])
    with_outbox = f"WITH outbox AS ({outbox_sql}) " if outbox_sql else ""
    table = connection.ops.quote_name(PointsAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{with_outbox}UPDATE {table} AS account SET balance = new.balance, updated_at = %s"  # noqa: S608 (our SQL and table)
            " FROM unnest(%s::bigint[], %s::integer[]) AS new(id, balance) WHERE account.id = new.id",
            [*outbox_params, now, [account.pk for account in accounts], [account.balance for account in accounts]],
        )


def _refuse_identifying_text(moves: Sequence[_Move]) -> None:
    """The ledger cannot be edited later, so text that would identify the member is refused before it is written."""
    for move in moves:
        reason_text = move.reason["reason"]
        if _may_name_member(move.account, reason_text) or _may_name_member(move.account, move.source_ref):
            refuse_personal_data_in_text(move.account.member, reason=reason_text, source_ref=move.source_ref)


def _write_row_with_balance(move: _Move, row: dict[str, Any], *, now: datetime) -> None:
    """One ledger row, the lot it opens, its outbox event (when subscribed) and its account's balance in one PostgreSQL
    statement (data-modifying CTEs): one round trip where three or four statements took three or four. Sets
    ``row["id"]``; the outbox payload takes the entry's id inside the statement.
    """
    columns, placeholders, params = insert_values(PointsEntry, row)
    entries = connection.ops.quote_name(PointsEntry._meta.db_table)
    sql = f"WITH entry AS (INSERT INTO {entries} ({columns}) VALUES ({placeholders}) RETURNING id)"  # noqa: S608 (our SQL and table)
    if move.opens_lot:
        lots = connection.ops.quote_name(PointsLot._meta.db_table)
        sql += (
            f", lot AS (INSERT INTO {lots} (account_id, entry_id, amount, remaining, expires_at)"  # noqa: S608 (our SQL and table)
            " SELECT %s, id, %s, %s, %s FROM entry)"
        )
        params += [move.account.pk, move.amount, move.amount, move.expires_at]
    row["id"] = None  # known once the statement ran; the outbox payload reads it from the entry CTE
    events = outbox_wanted(events=points_events([move], [row]), types=POINTS_EVENT_TYPES.values())
    if events:
        payload = "p || jsonb_build_object('entry_id', (SELECT id FROM entry))"
        outbox_sql, outbox_params = outbox_insert_statement(events=events, occurred_at=now, payload=payload)
        sql += f", outbox AS ({outbox_sql})"
        params += outbox_params
    accounts = connection.ops.quote_name(PointsAccount._meta.db_table)
    sql += f" UPDATE {accounts} SET balance = %s, updated_at = %s WHERE id = %s RETURNING (SELECT id FROM entry)"  # noqa: S608
    params += [move.account.balance, now, move.account.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (row["id"],) = cursor.fetchone()


def _write(moves: Sequence[_Move], *, now: datetime, store_balances: bool = True) -> list[dict[str, Any]]:
    """Write ``moves``: the ledger rows with their running balances, a lot per credit, then the balances (unless
    the accounts were just inserted with them).

    Every ledger row, for one member or for many, is built and inserted here. Returns the rows (with ``id``).
    """
    if not moves:
        return []
    _refuse_identifying_text(moves)
    rows = []
    for move in moves:
        move.account.balance += move.amount
        rows.append(
            {
                **move.reason,
                "account_id": move.account.pk,
                "kind": move.kind,
                "amount": move.amount,
                "balance_after": move.account.balance,
                "source_ref": move.source_ref,
                "idempotency_key": move.idempotency_key,
                "actor_id": move.actor.pk if move.actor else None,
                "client_id": move.client.pk if move.client else None,
                "expires_at": move.expires_at,
                "reverses_id": move.reverses.pk if move.reverses else None,
                "created_at": now,
            }
        )
    if len(moves) == 1 and store_balances and connection.vendor == "postgresql":
        _write_row_with_balance(moves[0], rows[0], now=now)
        return rows
    for row, entry_id in zip(rows, _insert(PointsEntry, rows), strict=True):
        row["id"] = entry_id
    _insert_unkeyed(
        PointsLot,
        [
            {
                "account_id": row["account_id"],
                "entry_id": row["id"],
                "amount": move.amount,
                "remaining": move.amount,
                "expires_at": move.expires_at,
            }
            for move, row in zip(moves, rows, strict=True)
            if move.opens_lot
        ],
    )
    events = outbox_wanted(events=points_events(moves, rows), types=POINTS_EVENT_TYPES.values())
    if store_balances:
        _store_balances((move.account for move in moves), now, events)
    else:
        outbox_emit_many(events=events, occurred_at=now)
    return rows


def _write_one(move: _Move, *, now: datetime) -> PointsEntry:
    """``_write`` for one row, answering with the stored entry without reading it back."""
    row = _write([move], now=now)[0]
    fields = PointsEntry._meta.concrete_fields
    entry = PointsEntry.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], [row[f.attname] for f in fields])
    entry.account = move.account
    return entry


def _credit(account: PointsAccount, *, kind: str, amount: int, expires_at: datetime | None, now: datetime, **fields: Any) -> PointsEntry:
    return _write_one(_Move(account, kind, amount, expires_at=expires_at, opens_lot=True, **fields), now=now)


def _debit(
    account: PointsAccount, *, kind: str, amount: int, now: datetime, first_lot: PointsLot | None = None, **fields: Any
) -> PointsEntry:
    """Take ``amount`` from the account's lots, earliest expiry first (or ``first_lot`` first)."""
    _expire_due_lots([account], now=now)
    if amount > account.balance:
        raise ApplicationError(
            "insufficient_points",
            _("Not enough points: the balance is %(balance)d, %(amount)d were asked for.") % {"balance": account.balance, "amount": amount},
            http_status=409,
            extra={"balance": account.balance},
        )
    lots = list(PointsLot.objects.filter(account=account, remaining__gt=0).order_by(F("expires_at").asc(nulls_last=True), "id"))
    if first_lot is not None:
        lots.sort(key=lambda lot: lot.pk != first_lot.pk)
    entry = _write_one(_Move(account, kind, -amount, **fields), now=now)
    uses, still_needed = [], amount
    for lot in lots:
        if not still_needed:
            break
        taken = min(lot.remaining, still_needed)
        lot.remaining -= taken
        still_needed -= taken
        uses.append(PointsLotUse(entry=entry, lot=lot, amount=taken))
    if still_needed:
        raise AssertionError(f"points lots of account {account.pk} do not add up to its balance")
    PointsLot.objects.bulk_update([use.lot for use in uses], ["remaining"])
    PointsLotUse.objects.bulk_create(uses)
    return entry


def _expire_due_lots(accounts: list[PointsAccount], *, now: datetime) -> int:
    """Expire what is left of due lots on these locked accounts: one expiry entry per account."""
    due = list(PointsLot.objects.filter(account__in=accounts, remaining__gt=0, expires_at__lte=now).order_by("account_id", "id"))
    if not due:
        return 0
    by_account: dict[int, list[PointsLot]] = defaultdict(list)
    for lot in due:
        by_account[lot.account_id].append(lot)
    expired = [(account, by_account[account.pk]) for account in accounts if account.pk in by_account]
    reason = reason_fields(Reason("points_expired"))
    rows = _write(
        [_Move(account, PointsEntryKind.EXPIRE, -sum(lot.remaining for lot in lots), reason) for account, lots in expired], now=now
    )
    uses = [
        PointsLotUse(entry_id=row["id"], lot=lot, amount=lot.remaining)
        for row, (_account, lots) in zip(rows, expired, strict=True)
        for lot in lots
    ]
    for lot in due:
        lot.remaining = 0
    PointsLot.objects.bulk_update(due, ["remaining"])
    PointsLotUse.objects.bulk_create(uses)
    return sum(use.amount for use in uses)


# One member --------------------------------------------------------------------------------------


@atomic_checks_first
def points_earn(
    *,
    member: Member | int,
    amount: int,
    reason: str | Reason,
    source_ref: str = "",
    expires_at: datetime | None = None,
    actor: User | None = None,
    client: ApiClient | None = None,
    kind: str = PointsEntryKind.EARN,
) -> PointsEntry:
    """Credit earned points, valid until ``expires_at`` (default: the programme's validity).

    ``member`` may be only the member's id (the API has no need to load the member): an unknown one is a 404.
    Every refusal comes before the first write, so the earn needs no savepoint of its own.
    """
    amount = _positive_amount(amount)
    if kind not in CREDIT_KINDS:
        raise ApplicationError("invalid_kind", _("Only earned or migrated points can be credited this way."))
    written_reason = _reason(reason)
    account = lock_points_account(member_id=_member_id(member))
    _require_status(account.member, {MemberStatus.ACTIVE})
    now = timezone.now()
    move = _Move(
        account,
        kind,
        amount,
        written_reason,
        source_ref=source_ref,
        expires_at=_future_expiry(expires_at, now),
        opens_lot=True,
        actor=actor,
        client=client,
    )
    _refuse_identifying_text([move])
    with transaction.atomic(savepoint=False):
        return _write_one(move, now=now)


@transaction.atomic
def points_spend(
    *,
    member: Member | int,
    amount: int,
    reason: str | Reason,
    source_ref: str = "",
    actor: User | None = None,
    client: ApiClient | None = None,
) -> PointsEntry:
    """Debit points, earliest-expiring first; refused when the (unexpired) balance is short.

    ``member`` may be only the member's id, as for ``points_earn``.
    """
    amount = _positive_amount(amount)
    account = lock_points_account(member_id=_member_id(member))
    _require_status(account.member, {MemberStatus.ACTIVE})
    return _debit(
        account,
        kind=PointsEntryKind.SPEND,
        amount=amount,
        now=timezone.now(),
        reason=_reason(reason),
        source_ref=source_ref,
        actor=actor,
        client=client,
    )


def _apply_adjustment(adjustment: PointsAdjustment, account: PointsAccount, *, now: datetime, expires_at: datetime | None) -> None:
    _require_status(account.member, {MemberStatus.ACTIVE, MemberStatus.FROZEN})
    fields = {"reason": reason_fields(adjustment.reason), "actor": adjustment.requested_by}
    if adjustment.amount > 0:
        expiry = expires_at or default_points_expiry(now)
        adjustment.entry = _credit(account, kind=PointsEntryKind.ADJUST, amount=adjustment.amount, expires_at=expiry, now=now, **fields)
    else:
        adjustment.entry = _debit(account, kind=PointsEntryKind.ADJUST, amount=-adjustment.amount, now=now, **fields)


@transaction.atomic
def points_adjust(*, member: Member, amount: int, reason: str, actor: User, expires_at: datetime | None = None) -> PointsAdjustment:
    """A staff correction, positive or negative, with a required reason.

    Within the staff member's daily allowance (customer service: the configured points per day; operations: no
    limit) the points move at once; above it the adjustment is recorded as pending and moves nothing until another
    person with the approval right approves it.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise ApplicationError("invalid_amount", _("The adjustment must be a non-zero whole number."), fields={"amount": amount})
    reason = _reason(reason)["reason"]
    _positive_amount(abs(amount))
    actor = lock_staff_user(user_id=actor.pk)
    now = timezone.now()
    allowance = adjust_allowance_left(actor=actor, now=now)
    if allowance == 0 and not actor.has_perm("members.adjust_points"):
        raise ApplicationError("permission_denied", _("You may not adjust points."), http_status=403)
    account = lock_points_account(member_id=member.pk)
    _require_status(account.member, {MemberStatus.ACTIVE, MemberStatus.FROZEN})
    adjustment = PointsAdjustment(member=account.member, amount=amount, reason=reason, requested_by=actor, requested_at=now)
    if allowance is not None and abs(amount) > allowance:
        adjustment.state = AdjustmentState.PENDING
    else:
        adjustment.state = AdjustmentState.APPLIED
        _apply_adjustment(adjustment, account, now=now, expires_at=expires_at)
    adjustment._history_user = actor
    adjustment.save()
    return adjustment


Adjustment = TypeVar("Adjustment", PointsAdjustment, GrowthAdjustment)


def _lock_pending(adjustment: PointsAdjustment, actor: User) -> PointsAdjustment:
    if not actor.has_perm("members.approve_pointsadjustment"):
        raise ApplicationError("permission_denied", _("You may not approve or reject points adjustments."), http_status=403)
    return _still_pending(lock_points_adjustment(adjustment_id=adjustment.pk), actor)


def _still_pending(adjustment: Adjustment, actor: User) -> Adjustment:
    """A locked adjustment that a second person may still decide (points and growth value alike)."""
    if adjustment.requested_by_id == actor.pk:
        raise ApplicationError("own_adjustment", _("Another person must approve or reject an adjustment you asked for."), http_status=403)
    if adjustment.state != AdjustmentState.PENDING:
        raise ApplicationError(
            "adjustment_decided",
            _("This adjustment is no longer waiting: %(state)s.") % {"state": adjustment.get_state_display()},
            http_status=409,
        )
    return adjustment


def _decided(adjustment: Adjustment, *, state: str, actor: User, now: datetime, note: str) -> Adjustment:
    """Record a second person's decision on a pending adjustment (points and growth value alike)."""
    adjustment.state = state
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = actor, now, note
    adjustment._history_user = actor
    adjustment.save()
    return adjustment


@transaction.atomic
def points_adjustment_approve(*, adjustment: PointsAdjustment, actor: User, note: str = "") -> PointsAdjustment:
    """A second person approves a pending adjustment: only now do the points move, through the ledger."""
    adjustment = _lock_pending(adjustment, actor)
    account = lock_points_account(member_id=adjustment.member_id)
    now = timezone.now()
    _apply_adjustment(adjustment, account, now=now, expires_at=None)
    return _decided(adjustment, state=AdjustmentState.APPROVED, actor=actor, now=now, note=(note or "").strip()[:255])


@transaction.atomic
def points_adjustment_reject(*, adjustment: PointsAdjustment, actor: User, note: str) -> PointsAdjustment:
    """A second person refuses a pending adjustment, saying why; no points move."""
    note = _reason(note)["reason"]
    adjustment = _lock_pending(adjustment, actor)
    return _decided(adjustment, state=AdjustmentState.REJECTED, actor=actor, now=timezone.now(), note=note)


@transaction.atomic
def points_reverse(
    *, entry: PointsEntry, reason: str | Reason, actor: User | None = None, client: ApiClient | None = None, source_ref: str = ""
) -> PointsEntry:
    """Undo a ledger entry with a new, opposite one (once). A debit's points go back to the lots they came from."""
    reason_columns = _reason(reason)
    account = lock_points_accounts_by_id(account_ids=[entry.account_id])[0]
    entry = PointsEntry.objects.get(pk=entry.pk)
    if entry.kind in (PointsEntryKind.EXPIRE, PointsEntryKind.REVERSE):
        raise ApplicationError("not_reversible", _("Expiries and reversals cannot be reversed."), http_status=409)
    if PointsEntry.objects.filter(reverses=entry).exists():
        raise ApplicationError("already_reversed", _("This entry was already reversed."), http_status=409)
    now = timezone.now()
    fields = {"reason": reason_columns, "actor": actor, "client": client, "source_ref": source_ref or entry.source_ref, "reverses": entry}
    if entry.amount > 0:
        lot = PointsLot.objects.filter(entry=entry).first()
        return _debit(account, kind=PointsEntryKind.REVERSE, amount=entry.amount, now=now, first_lot=lot, **fields)
    uses = list(PointsLotUse.objects.filter(entry=entry))
    reversal = _write_one(_Move(account, PointsEntryKind.REVERSE, -entry.amount, **fields), now=now)
    for use in uses:
        PointsLot.objects.filter(pk=use.lot_id).update(remaining=F("remaining") + use.amount)
    return reversal


def points_expire_due(*, now: datetime | None = None, chunk_size: int = 500) -> int:
    """Expire every due lot, a chunk of accounts per transaction; safe to re-run and to interrupt."""
    now = now or timezone.now()
    total = 0
    last_account_id = 0
    while True:
        account_ids = list(
            PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now, account_id__gt=last_account_id)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:chunk_size]
        )
        if not account_ids:
            return total
        with transaction.atomic():
            accounts = lock_points_accounts_by_id(account_ids=account_ids)
            total += _expire_due_lots(accounts, now=now)
        last_account_id = account_ids[-1]


# Many members ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointsCredit:
    """One credit of the set-based path: ``amount`` points to a member, valid until ``expires_at`` (default: the
    programme's validity)."""

    member_id: int
    amount: int
    reason: str | Reason
    source_ref: str = ""
    expires_at: datetime | None = None
    kind: str = PointsEntryKind.EARN
    # A credit with a key is written once, ever: the same key again (in this call or any later one) is left out.
    idempotency_key: str = ""


def _checked_reasons(credits: Sequence[PointsCredit], now: datetime) -> dict[int, dict[str, Any]]:
    """Check every credit; returns the reason columns of each distinct reason (a set shares a few, often one, so
    each is rendered once, not once per member)."""
    reasons: dict[int, dict[str, Any]] = {}
    for credit in credits:
        _positive_amount(credit.amount)
        if credit.kind not in CREDIT_KINDS:
            raise ApplicationError("invalid_kind", _("Only earned or migrated points can be credited this way."))
        _future_expiry(credit.expires_at, now)
        if id(credit.reason) not in reasons:
            reasons[id(credit.reason)] = _reason(credit.reason)
    return reasons


def _credit_move(
    credit: PointsCredit,
    account: PointsAccount,
    reasons: dict[int, dict[str, Any]],
    default_expiry: datetime,
    *,
    actor: User | None = None,
    client: ApiClient | None = None,
) -> _Move:
    return _Move(
        account,
        credit.kind,
        credit.amount,
        reasons[id(credit.reason)],
        source_ref=credit.source_ref,
        expires_at=credit.expires_at or default_expiry,
        opens_lot=True,
        actor=actor,
        client=client,
        idempotency_key=credit.idempotency_key,
    )


def _unpaid(credits: Sequence[PointsCredit]) -> list[PointsCredit]:
    """The credits whose idempotency key no ledger row carries yet (and the first of any repeated in the set).

    Called with the accounts locked, so a second call with the same keys waits for the first to commit and then sees
    its rows; the unique constraint on the key is the backstop."""
    keys = [credit.idempotency_key for credit in credits if credit.idempotency_key]
    if not keys:
        return list(credits)
    seen = set(PointsEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    unpaid = []
    for credit in credits:
        if credit.idempotency_key:
            if credit.idempotency_key in seen:
                continue
            seen.add(credit.idempotency_key)
        unpaid.append(credit)
    return unpaid


@transaction.atomic
def points_credit_many(
    *,
    credits: Sequence[PointsCredit],
    skip_inactive: bool = False,
    actor: User | None = None,
    client: ApiClient | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Credit many members at once: their accounts locked in key order, the rows inserted in bulk, the balances
    stored in one statement. Returns the ids of the members credited, in order.

    A member who is not active (or has no account) refuses the whole set, or with ``skip_inactive`` is left out. A
    credit whose ``idempotency_key`` is already in the ledger is left out (it was paid before).
    Callers chunk (a few thousand credits per call).
    """
    now = now or timezone.now()
    default_expiry = default_points_expiry(now)
    reasons = _checked_reasons(credits, now)
    accounts = {account.member_id: account for account in lock_points_accounts(member_ids=[credit.member_id for credit in credits])}
    moves = []
    for credit in sorted(_unpaid(credits), key=lambda credit: credit.member_id):
        account = accounts.get(credit.member_id)
        if account is None or account.member.status != MemberStatus.ACTIVE:
            if skip_inactive:
                continue
            if account is None:
                raise ApplicationError("unknown_member", _("No such member."), fields={"member_id": credit.member_id}, http_status=404)
            try:
                _require_status(account.member, {MemberStatus.ACTIVE})
            except ApplicationError as error:
                error.fields = {"member_id": credit.member_id}
                raise
        moves.append(_credit_move(credit, account, reasons, default_expiry, actor=actor, client=client))
    _write(moves, now=now)
    return list(dict.fromkeys(move.account.member_id for move in moves))


def points_earn_bulk(
    *,
    member_ids: Iterable[int],
    amount: int,
    reason: str | Reason,
    source_ref: str = "",
    expires_at: datetime | None = None,
    once_key: str = "",
) -> int:
    """Credit ``amount`` points to every active member of ``member_ids``; returns how many were credited.

    Members who are not active are skipped. With ``once_key`` each member's credit carries the idempotency key
    ``<once_key>:member:<id>``, so a repeated call pays nobody twice. Callers chunk (a few thousand ids per call).
    """
    # Checked before the members, so a bad call is refused even when no member would be credited.
    _positive_amount(amount)
    _reason(reason)
    _future_expiry(expires_at, timezone.now())
    credits = [
        PointsCredit(
            member_id=member_id,
            amount=amount,
            reason=reason,
            source_ref=source_ref[:128],
            expires_at=expires_at,
            idempotency_key=once_key_for(once_key, member_id) if once_key else "",
        )
        for member_id in sorted(set(member_ids))
    ]
    return len(points_credit_many(credits=credits, skip_inactive=True))


def once_key_for(once_key: str, member_id: int) -> str:
    """One member's idempotency key under a caller's ``once_key``."""
    key = f"{once_key}:member:{member_id}"
    if len(key) > PointsEntry._meta.get_field("idempotency_key").max_length:
        raise ApplicationError("invalid_key", _("The idempotency key is too long."), fields={"once_key": once_key})
    return key


# Accounts ----------------------------------------------------------------------------------------


def points_accounts_open(*, owners: Sequence[AccountOwner], now: datetime, opening: Sequence[PointsCredit] = ()) -> None:
    """Points accounts for new members (one at enrolment, a chunk in an import), with their opening balances.

    The accounts are new in this transaction and nobody else can see them, so nothing is locked: each is inserted
    with the balance its opening credits add up to, and the credits are written like any other (``_write``).
    """
    reasons = _checked_reasons(opening, now)
    opening_balance: dict[int, int] = defaultdict(int)
    for credit in opening:
        opening_balance[credit.member_id] += credit.amount
    unknown = set(opening_balance) - {owner.member_id for owner in owners}
    if unknown:
        raise ApplicationError("unknown_member", _("No such member."), fields={"member_id": min(unknown)}, http_status=404)
    account_ids = _insert(
        PointsAccount, [{"member_id": owner.member_id, "balance": opening_balance[owner.member_id], "updated_at": now} for owner in owners]
    )
    accounts = {
        owner.member_id: _OpenedAccount(pk=account_id, member=owner)
        for owner, account_id in zip(owners, account_ids, strict=True)
        if owner.member_id in opening_balance
    }
    default_expiry = default_points_expiry(now)
    moves = [_credit_move(credit, accounts[credit.member_id], reasons, default_expiry) for credit in opening]
    _write(moves, now=now, store_balances=False)


# Growth value ------------------------------------------------------------------------------------

MAX_GROWTH_PER_OPERATION = 10_000_000


def _growth_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise ApplicationError("invalid_amount", _("Growth value must be a non-zero whole number."), fields={"amount": amount})
    if abs(amount) > MAX_GROWTH_PER_OPERATION:
        raise ApplicationError("invalid_amount", _("Too much growth value for one operation."), fields={"amount": amount})
    return amount


def _write_growth(
    member: Member, *, amount: int, reason_columns: dict[str, Any], source_ref: str, actor: User | None, now: datetime
) -> tuple[GrowthEntry, TierChange | None]:
    """Every growth row for one (locked) member is written here, then the tier is looked at."""
    refuse_personal_data_in_text(member, reason=reason_columns["reason"], source_ref=source_ref)
    entry = GrowthEntry.objects.create(member=member, amount=amount, source_ref=source_ref, actor=actor, created_at=now, **reason_columns)
    return entry, tier_promote_on_growth(member=member, now=now, actor=actor)


@transaction.atomic
def growth_add(
    *, member: Member, amount: int, reason: str | Reason, source_ref: str = "", actor: User | None = None
) -> tuple[GrowthEntry, TierChange | None]:
    """Record growth value; promote at once when the member now qualifies for a higher tier."""
    _growth_amount(amount)
    member = lock_member(member_id=member.pk)
    _require_status(member, {MemberStatus.ACTIVE})
    return _write_growth(member, amount=amount, reason_columns=_reason(reason), source_ref=source_ref, actor=actor, now=timezone.now())


def _apply_growth_adjustment(adjustment: GrowthAdjustment, member: Member, *, now: datetime) -> None:
    _require_status(member, {MemberStatus.ACTIVE, MemberStatus.FROZEN})
    if adjustment.amount < 0:
        # Growth value is never negative: a deduction takes at most what the rolling window holds.
        current = rolling_growth([member.pk], now).get(member.pk, 0)
        if current + adjustment.amount < 0:
            raise ApplicationError(
                "insufficient_growth",
                _("The member has %(value)d growth value in the window; %(amount)d cannot be deducted.")
                % {"value": current, "amount": -adjustment.amount},
                fields={"amount": adjustment.amount},
                http_status=409,
            )
    adjustment.entry, _change = _write_growth(
        member,
        amount=adjustment.amount,
        reason_columns=reason_fields(adjustment.reason),
        source_ref=f"growth-adjustment:{adjustment.requested_at:%Y%m%d}",
        actor=adjustment.requested_by,
        now=now,
    )


@transaction.atomic
def growth_adjust(*, member: Member, amount: int, reason: str, actor: User) -> GrowthAdjustment:
    """A staff correction of growth value, positive or negative, with a required reason — as ``points_adjust``.

    Within the staff member's daily allowance (customer service: the configured growth value per day; operations: no
    limit) the growth value moves at once, through the ledger, and may promote the member; above it the adjustment is
    recorded as pending and moves nothing until another person with the approval right approves it.
    """
    _growth_amount(amount)
    reason = _reason(reason)["reason"]
    actor = lock_staff_user(user_id=actor.pk)
    now = timezone.now()
    allowance = growth_adjust_allowance_left(actor=actor, now=now)
    if allowance == 0 and not actor.has_perm("members.adjust_growth"):
        raise ApplicationError("permission_denied", _("You may not adjust growth value."), http_status=403)
    member = lock_member(member_id=member.pk)
    _require_status(member, {MemberStatus.ACTIVE, MemberStatus.FROZEN})
    adjustment = GrowthAdjustment(member=member, amount=amount, reason=reason, requested_by=actor, requested_at=now)
    if allowance is not None and abs(amount) > allowance:
        adjustment.state = AdjustmentState.PENDING
    else:
        adjustment.state = AdjustmentState.APPLIED
        _apply_growth_adjustment(adjustment, member, now=now)
    adjustment._history_user = actor
    adjustment.save()
    return adjustment


def _lock_pending_growth(adjustment: GrowthAdjustment, actor: User) -> GrowthAdjustment:
    if not actor.has_perm("members.approve_growthadjustment"):
        raise ApplicationError("permission_denied", _("You may not approve or reject growth value adjustments."), http_status=403)
    return _still_pending(lock_growth_adjustment(adjustment_id=adjustment.pk), actor)


@transaction.atomic
def growth_adjustment_approve(*, adjustment: GrowthAdjustment, actor: User, note: str = "") -> GrowthAdjustment:
    """A second person approves a pending growth adjustment: only now does the growth value move (and may promote)."""
    adjustment = _lock_pending_growth(adjustment, actor)
    member = lock_member(member_id=adjustment.member_id)
    now = timezone.now()
    _apply_growth_adjustment(adjustment, member, now=now)
    return _decided(adjustment, state=AdjustmentState.APPROVED, actor=actor, now=now, note=(note or "").strip()[:255])


@transaction.atomic
def growth_adjustment_reject(*, adjustment: GrowthAdjustment, actor: User, note: str) -> GrowthAdjustment:
    """A second person refuses a pending growth adjustment, saying why; nothing moves."""
    note = _reason(note)["reason"]
    adjustment = _lock_pending_growth(adjustment, actor)
    return _decided(adjustment, state=AdjustmentState.REJECTED, actor=actor, now=timezone.now(), note=note)


@dataclass(frozen=True)
class GrowthCredit:
    """One growth-value entry of the set-based path."""

    member_id: int
    amount: int
    reason: str | Reason
    source_ref: str = ""


@transaction.atomic
def growth_add_many(*, credits: Sequence[GrowthCredit], skip_inactive: bool = True, now: datetime | None = None) -> list[int]:
    """Record growth value for many members at once (earning rules, tasks): the members locked in key order, the
    entries inserted in bulk, and every member whose rolling total crosses a higher tier's threshold promoted at once,
    as ``growth_add`` does for one. Returns the ids of the members credited, in order.

    A member who is not active refuses the whole set, or with ``skip_inactive`` (the default) is left out.
    """
    now = now or timezone.now()
    reasons: dict[int, dict[str, Any]] = {}
    for credit in credits:
        if isinstance(credit.amount, bool) or not isinstance(credit.amount, int) or credit.amount == 0:
            raise ApplicationError("invalid_amount", _("Growth value must be a non-zero whole number."), fields={"amount": credit.amount})
        if id(credit.reason) not in reasons:
            reasons[id(credit.reason)] = _reason(credit.reason)
    members = {member.pk: member for member in lock_members_for_growth(member_ids=[credit.member_id for credit in credits])}
    rows, credited = [], {}
    for credit in sorted(credits, key=lambda credit: credit.member_id):
        member = members.get(credit.member_id)
        if member is None or member.status != MemberStatus.ACTIVE:
            if skip_inactive:
                continue
            if member is None:
                raise ApplicationError("unknown_member", _("No such member."), fields={"member_id": credit.member_id}, http_status=404)
            _require_status(member, {MemberStatus.ACTIVE})
        columns = reasons[id(credit.reason)]
        if _may_name_member(_OpenedAccount(pk=0, member=member), columns["reason"]) or _may_name_member(
            _OpenedAccount(pk=0, member=member), credit.source_ref
        ):
            refuse_personal_data_in_text(member, reason=columns["reason"], source_ref=credit.source_ref)
        rows.append(
            {
                **columns,
                "member_id": member.pk,
                "amount": credit.amount,
                "source_ref": credit.source_ref[:128],
                "actor_id": None,
                "created_at": now,
            }
        )
        credited[member.pk] = member
    _insert(GrowthEntry, rows)
    tiers_promote_on_growth_many(members=list(credited.values()), now=now)
    return list(credited)


# Merging duplicates --------------------------------------------------------------------------------


def points_move_on_merge(*, survivor_account: PointsAccount, merged_account: PointsAccount, actor: User, now: datetime) -> int:
    """Move the merged member's balance to the survivor (both accounts locked by the merge, with their members).

    The ledger is append-only, so nothing is rewritten: due lots expire first, then one debit on the merged account
    takes every open lot, and one credit per lot on the survivor's opens a lot of the same amount and expiry, so the
    points expire exactly when they would have. Both balances stay equal to their ledgers. Returns the points moved.
    """
    _expire_due_lots(sorted([survivor_account, merged_account], key=lambda account: account.pk), now=now)
    lots = list(PointsLot.objects.filter(account=merged_account, remaining__gt=0).order_by(F("expires_at").asc(nulls_last=True), "id"))
    total = sum(lot.remaining for lot in lots)
    if not total:
        return 0
    out_reason = reason_fields(Reason("member_merged_out", {"member": survivor_account.member_id}))
    in_reason = reason_fields(Reason("member_merged_in", {"member": merged_account.member_id}))
    moves = [_Move(merged_account, PointsEntryKind.ADJUST, -total, out_reason, source_ref=f"merge:{merged_account.member_id}", actor=actor)]
    moves += [
        _Move(
            survivor_account,
            PointsEntryKind.MIGRATE,
            lot.remaining,
            in_reason,
            source_ref=f"merge:{merged_account.member_id}:lot:{lot.pk}",
            expires_at=lot.expires_at,
            opens_lot=True,
            actor=actor,
        )
        for lot in lots
    ]
    debit = _write(moves, now=now)[0]
    PointsLotUse.objects.bulk_create([PointsLotUse(entry_id=debit["id"], lot=lot, amount=lot.remaining) for lot in lots])
    for lot in lots:
        lot.remaining = 0
    PointsLot.objects.bulk_update(lots, ["remaining"])
    return total


def growth_move_on_merge(*, survivor: Member, merged: Member, actor: User, now: datetime) -> tuple[int, TierChange | None]:
    """Move the merged member's growth value to the survivor (both locked by the merge), keeping each entry's date.

    Each of the merged member's entries is answered by one on the survivor with the same amount and date and one on
    the merged member that takes it back on the same date, so the rolling window of either counts exactly what it
    should on any day; then the survivor's tier is looked at (a combined growth value may promote at once). Returns
    the entries moved and the promotion, if any.
    """
    entries = list(GrowthEntry.objects.filter(member=merged).order_by("created_at", "id"))
    out_reason = reason_fields(Reason("member_merged_out", {"member": survivor.pk}))
    in_reason = reason_fields(Reason("member_merged_in", {"member": merged.pk}))
    rows = []
    for entry in entries:
        source_ref = f"merge:{merged.pk}:growth:{entry.pk}"
        common = {"source_ref": source_ref, "actor_id": actor.pk, "created_at": entry.created_at}
        rows.append({**in_reason, **common, "member_id": survivor.pk, "amount": entry.amount})
        rows.append({**out_reason, **common, "member_id": merged.pk, "amount": -entry.amount})
    _insert(GrowthEntry, rows)
    return len(entries), tier_promote_on_growth(member=survivor, now=now, actor=actor)
