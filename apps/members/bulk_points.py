"""Set-based points credit for many members at once (campaigns over hundreds of thousands of members).

``points_earn`` per member costs several round trips each; this does one chunk in four statements while
keeping the ledger's rules: one earn entry and one lot per member, balance updated in the same
transaction under row locks. Rows are locked exactly as ``points_earn`` locks them — the account and its
member together, account by account in primary-key order — so bulk and single earns never deadlock.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.members.models import MemberStatus
from apps.members.services import _positive_amount, _reason, default_points_expiry


@transaction.atomic
def points_earn_bulk(
    *, member_ids: Iterable[int], amount: int, reason: str, source_ref: str = "", expires_at: datetime | None = None
) -> int:
    """Credit ``amount`` points to every active member of ``member_ids``; returns how many were credited.

    Members who are not active are skipped. Callers chunk (a few thousand ids per call).
    """
    amount = _positive_amount(amount)
    reason = _reason(reason)
    now = timezone.now()
    expires_at = expires_at or default_points_expiry(now)
    if expires_at <= now:
        raise ApplicationError("invalid_expiry", _("The expiry must be in the future."), fields={"expires_at": str(expires_at)})
    ids = sorted(set(member_ids))
    if not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id FROM members_pointsaccount a JOIN members_member m ON m.id = a.member_id
            WHERE a.member_id = ANY(%s) AND m.status = %s ORDER BY a.id FOR UPDATE
            """,
            [ids, MemberStatus.ACTIVE],
        )
        accounts = [row[0] for row in cursor.fetchall()]
        if not accounts:
            return 0
        cursor.execute(
            """
            WITH credited AS (
                UPDATE members_pointsaccount SET balance = balance + %(amount)s, updated_at = %(now)s
                WHERE id = ANY(%(accounts)s)
                RETURNING id, balance
            ), entries AS (
                INSERT INTO members_pointsentry (account_id, kind, amount, balance_after, reason, source_ref, expires_at, created_at)
                SELECT id, 'earn', %(amount)s, balance, %(reason)s, %(source_ref)s, %(expires_at)s, %(now)s FROM credited
                RETURNING id, account_id
            )
            INSERT INTO members_pointslot (account_id, entry_id, amount, remaining, expires_at)
            SELECT account_id, id, %(amount)s, %(amount)s, %(expires_at)s FROM entries
            """,
            {
                "accounts": accounts,
                "amount": amount,
                "now": now,
                "reason": reason,
                "source_ref": source_ref[:128],
                "expires_at": expires_at,
            },
        )
        return cursor.rowcount
