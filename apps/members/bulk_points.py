"""Set-based points credit for many members at once (campaigns over hundreds of thousands of members).

``points_earn`` per member costs several round trips each; this does one chunk in five statements while
keeping the ledger's rules: one earn entry and one lot per member, balance updated in the same
transaction under row locks. Rows are locked exactly as ``points_earn`` locks them — the account and its
member together, account by account in primary-key order — so bulk and single earns never deadlock.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.bulk_insert import allocate_ids, insert_rows
from apps.core.errors import ApplicationError
from apps.core.reasons import Reason
from apps.members.locks import lock_points_accounts
from apps.members.models import MemberStatus, PointsAccount, PointsEntry, PointsEntryKind, PointsLot
from apps.members.services import _positive_amount, _reason, default_points_expiry


@transaction.atomic
def points_earn_bulk(
    *, member_ids: Iterable[int], amount: int, reason: str | Reason, source_ref: str = "", expires_at: datetime | None = None
) -> int:
    """Credit ``amount`` points to every active member of ``member_ids``; returns how many were credited.

    Members who are not active are skipped. Callers chunk (a few thousand ids per call).
    """
    amount = _positive_amount(amount)
    reason_columns = _reason(reason)
    now = timezone.now()
    expires_at = expires_at or default_points_expiry(now)
    if expires_at <= now:
        raise ApplicationError("invalid_expiry", _("The expiry must be in the future."), fields={"expires_at": str(expires_at)})
    ids = sorted(set(member_ids))
    if not ids:
        return 0
    # Locks the accounts with their members (the join), in account order, as points_earn does.
    accounts = [
        (account.pk, account.balance) for account in lock_points_accounts(member_ids=ids) if account.member.status == MemberStatus.ACTIVE
    ]
    if not accounts:
        return 0
    PointsAccount.objects.filter(pk__in=[pk for pk, _balance in accounts]).update(balance=F("balance") + amount, updated_at=now)
    entry_ids = allocate_ids(PointsEntry, len(accounts))
    insert_rows(
        PointsEntry,
        [
            {
                "id": entry_id,
                "account_id": account_id,
                "kind": PointsEntryKind.EARN,
                "amount": amount,
                "balance_after": balance + amount,
                **reason_columns,
                "source_ref": source_ref[:128],
                "expires_at": expires_at,
                "created_at": now,
            }
            for entry_id, (account_id, balance) in zip(entry_ids, accounts, strict=True)
        ],
    )
    insert_rows(
        PointsLot,
        [
            {"account_id": account_id, "entry_id": entry_id, "amount": amount, "remaining": amount, "expires_at": expires_at}
            for entry_id, (account_id, _balance) in zip(entry_ids, accounts, strict=True)
        ],
    )
    return len(accounts)
