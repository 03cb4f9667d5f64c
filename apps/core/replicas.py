"""Reads that tolerate lag go to a streaming replica; everything else stays on the primary.

A read is sent to a replica only inside ``replica_reads()`` (a context manager and a view decorator) — the analytics
dashboard and API, exports, segment previews — and only when the primary's connection is not inside a transaction,
where a read may need to see that transaction's own writes. Writes always go to the primary. A replica whose replay
lags more than ``USEROPS_REPLICA_MAX_LAG_SECONDS`` behind, or that cannot be reached, is skipped until the next check.
With no replica configured (``DATABASE_REPLICA_URLS`` empty, as in ``make run``) every query goes to the primary.
"""

import logging
import time
from contextlib import ContextDecorator
from contextvars import ContextVar, Token
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger("userops.replicas")
REPLICA_PREFIX = "replica_"
_reads_from_replica: ContextVar[bool] = ContextVar("reads_from_replica", default=False)
# Per process on purpose: the lag is a measurement each process may take for itself, not a shared limit.
_lag_checked_at: dict[str, tuple[float, bool]] = {}

# Seconds of replay lag: none when the replica has replayed all it received, else the age of the last replayed
# transaction. NULL when the server is not a replica at all.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN NULL
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
END
"""


class replica_reads(ContextDecorator):  # noqa: N801 - used as a context manager and a decorator, like atomic
    """Send the reads inside to a replica when one is healthy."""

    def __init__(self) -> None:
        self._tokens: list[Token[bool]] = []

    def _recreate_cm(self) -> "replica_reads":
        # A decorated view runs in many threads at once: each call gets its own manager.
        return replica_reads()

    def __enter__(self) -> None:
        self._tokens.append(_reads_from_replica.set(True))

    def __exit__(self, *exc: object) -> None:
        _reads_from_replica.reset(self._tokens.pop())


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX)]


def replica_lag_seconds(alias: str) -> float | None:
    """The replica's replay lag now; None when the server is not a replica."""
    with connections[alias].cursor() as cursor:
        cursor.execute(LAG_SQL)
        lag = cursor.fetchone()[0]
    return None if lag is None else float(lag)


def _healthy(alias: str) -> bool:
    now = time.monotonic()
    checked = _lag_checked_at.get(alias)
    if checked and now - checked[0] < settings.USEROPS_REPLICAS["CHECK_SECONDS"]:
        return checked[1]
    try:
        lag = replica_lag_seconds(alias)
    except DatabaseError:
        logger.warning("replica %s cannot be reached; reads stay on the primary", alias)
        connections[alias].close()
        lag = None
    healthy = lag is not None and lag <= settings.USEROPS_REPLICAS["MAX_LAG_SECONDS"]
    if lag is not None and not healthy:
        logger.warning("replica %s lags %.1f s behind; reads stay on the primary", alias, lag)
    _lag_checked_at[alias] = (now, healthy)
    return healthy


def forget_replica_health() -> None:
    _lag_checked_at.clear()


def healthy_replica() -> str | None:
    return next((alias for alias in replica_aliases() if _healthy(alias)), None)


class PrimaryReplicaRouter:
    """The project's database router (``DATABASE_ROUTERS``)."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        if not _reads_from_replica.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return healthy_replica() or DEFAULT_DB_ALIAS

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
