"""What the award screen needs to know before it reads anything: the active limits, and which kinds of blocklist
entries exist. Kept in the shared cache (Redis when configured, else the database's cache table), so every process
sees a change at once: each save forgets it, immediately and again when its transaction commits.

With nothing configured the screen costs one cache read per batch and no query on the activity table.
"""

from dataclasses import dataclass

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.abuse.models import BlockEntry, BlockKind, VelocityLimit
from apps.core.activity import batch_memo

CONFIG_KEY = "abuse:screen-config:v1"
# A bound on staleness should a process cache an old state while another commits (the commit forgets it anyway).
CONFIG_SECONDS = 300


@dataclass(frozen=True)
class LimitSpec:
    id: int
    name: str
    scope: str
    kind: str
    max_events: int
    window_minutes: int


@dataclass(frozen=True)
class ScreenConfig:
    limits: tuple[LimitSpec, ...]
    blocked_kinds: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.limits and not self.blocked_kinds


def active_blocks_q(now: object = None) -> Q:
    """Blocklist entries in force at ``now``: no end, or an end still ahead."""
    return Q(until__isnull=True) | Q(until__gt=now or timezone.now())


def _load() -> ScreenConfig:
    limits = tuple(
        LimitSpec(**row)
        for row in VelocityLimit.objects.filter(active=True)
        .order_by("pk")
        .values("id", "name", "scope", "kind", "max_events", "window_minutes")
    )
    kinds = frozenset(BlockEntry.objects.filter(active_blocks_q()).values_list("kind", flat=True).distinct())
    return ScreenConfig(limits=limits, blocked_kinds=kinds & set(BlockKind.values))


def screen_config() -> ScreenConfig:
    """The configuration, read once per stored batch: the guard and the screen of one batch share the read."""
    memo = batch_memo()
    if memo is not None and CONFIG_KEY in memo:
        return memo[CONFIG_KEY]
    config = cache.get(CONFIG_KEY)
    if not isinstance(config, ScreenConfig):
        config = _load()
        if isinstance(caches["default"], DatabaseCache) and connection.in_atomic_block:
            # The database cache writes a row: inside an ingest's transaction that row would stay locked until the
            # ingest commits and every concurrent ingest would queue behind it. Written once this one has committed.
            transaction.on_commit(lambda: cache.set(CONFIG_KEY, config, timeout=CONFIG_SECONDS))
        else:
            cache.set(CONFIG_KEY, config, timeout=CONFIG_SECONDS)
    if memo is not None:
        memo[CONFIG_KEY] = config
    return config


def screen_config_forget() -> None:
    """Called by every service that changes a limit or the blocklist."""
    cache.delete(CONFIG_KEY)
    transaction.on_commit(lambda: cache.delete(CONFIG_KEY))
