"""The rows and keys abuse control locks, in one place.

- A limit or a blocklist entry being edited by staff: neither is on the product's main lock path; the award screen
  only reads them.
- **Velocity scopes**: before a batch of activity is stored, a transaction-scoped advisory lock per (scope, value) that
  an active velocity limit counts (a device, a client address, a member), all taken in one statement in key order.
  They come first in the storing transaction — velocity scopes → task progress → rule → cap counters → member → points
  account — so a batch never holds anything else while it waits for them. Two batches sharing a device are serialised:
  the second stores its events after the first committed and counts them, so a limit is exact under concurrency.
"""

import hashlib
from collections.abc import Iterable

from django.db import connection

from apps.abuse.models import BlockEntry, VelocityLimit

# Keeps abuse control's advisory keys apart from any other use of advisory locks on the database.
_NAMESPACE = b"userops.abuse.velocity:"


def lock_limit(*, limit_id: int) -> VelocityLimit:
    return VelocityLimit.objects.select_for_update().get(pk=limit_id)


def lock_block(*, block_id: int) -> BlockEntry:
    return BlockEntry.objects.select_for_update().get(pk=block_id)


def scope_lock_key(scope: str, value: str) -> int:
    """A stable signed 64-bit key for one scope value (the same in every process)."""
    digest = hashlib.blake2b(_NAMESPACE + f"{scope}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_velocity_scopes(*, scopes: Iterable[tuple[str, str]]) -> int:
    """Take the transaction's advisory lock of each (scope, value), in key order, in one statement; the keys locked.

    PostgreSQL only: the embedded SQLite has one writer at a time already.
    """
    keys = sorted({scope_lock_key(scope, value) for scope, value in scopes})
    if not keys or connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        # The ordered subquery makes the locks be taken in key order, so two batches never wait for each other in a ring.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k) AS ordered",
            [keys],
        )
    return len(keys)
