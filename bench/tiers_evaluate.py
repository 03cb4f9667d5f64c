"""The nightly tier evaluation (``tiers_evaluate``) on generated members, beside its floor, in two set-ups: tiers on
growth value only (the work the evaluation did before tiers had further conditions) and Gold/VIP also asking for
purchases and spend (two more grouped queries per chunk).

The floor does the same work with the least SQL: per chunk of 2,000 members one locking ``SELECT``, one grouped
growth sum, (with conditions) one grouped purchase count and spend, then one upsert of the growth values that changed
(``INSERT … SELECT FROM unnest … ON CONFLICT``), one ``UPDATE … FROM unnest`` of the members that moved and one
``INSERT … SELECT FROM unnest`` of their tier-history rows; the decision per member is the same
Python function. Before each run the members are put back as they were, so every run makes the same moves; the rounds
alternate which side goes first, the medians are reported, and both sides must leave the members in the same tiers
with the same number of history rows.
"""

import statistics
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.analytics.models import ActivityEvent, ActivityKind
from apps.members.models import GrowthEntry, Member, MemberStatus, Tier, TierChange
from apps.members.services import tiers_evaluate
from apps.members.tier_rules import Standing, TierRule, decide, window
from bench.data import ensure_members

SIZES = {"quick": 5_000, "full": 50_000}
ROUNDS = 3
CHUNK = 2_000
SOURCE = "bench-tiers"
GROWTH_UPSERT = (
    "INSERT INTO members_growthvalue AS g (member_id, value) SELECT * FROM unnest(%s::bigint[], %s::integer[])"
    " ON CONFLICT (member_id) DO UPDATE SET value = EXCLUDED.value WHERE g.value IS DISTINCT FROM EXCLUDED.value"
)


def _generate(member_ids: list[int], now: Any) -> None:
    """Growth value spread over the tiers, a purchase for every third member, tiers reached long ago."""
    if not GrowthEntry.objects.filter(source_ref=SOURCE).exists():
        GrowthEntry.objects.bulk_create(
            [
                GrowthEntry(
                    member_id=pk,
                    amount=1 + (pk * 7919) % 26_000,
                    reason="Benchmark",
                    source_ref=SOURCE,
                    created_at=now - timedelta(days=30),
                )
                for pk in member_ids
            ],
            batch_size=5_000,
        )
        ActivityEvent.objects.bulk_create(
            [
                ActivityEvent(
                    member_id=pk,
                    kind=ActivityKind.PURCHASE,
                    occurred_at=now - timedelta(days=10),
                    source=SOURCE,
                    event_id=f"{SOURCE}-{pk}",
                    amount=Decimal(100 + pk % 3_000),
                )
                for pk in member_ids
                if pk % 3 == 0
            ],
            batch_size=5_000,
        )
    Member.objects.filter(pk__in=member_ids).update(tier_achieved_at=now - timedelta(days=400), tier_assigned_until=None)


def _configure(conditions: bool) -> None:
    for code, values in (("gold", {"min_purchases": 1}), ("vip", {"min_spend": Decimal("1000")})):
        Tier.objects.filter(code=code).update(**(values if conditions else {"min_purchases": None, "min_spend": None}))


def _with_growth(members: QuerySet[Member]) -> QuerySet[Member]:
    return members.order_by("pk").annotate(stored_growth=Coalesce("growth__value", 0))


def _snapshot() -> list[tuple]:
    return list(_with_growth(Member.objects).values_list("pk", "tier_id", "tier_achieved_at", "stored_growth"))


def _restore(state: list[tuple]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_member AS m SET tier_id = s.tier_id, tier_achieved_at = s.achieved"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS s(id, tier_id, achieved) WHERE m.id = s.id",
            [[row[0] for row in state], [row[1] for row in state], [row[2] for row in state]],
        )
        cursor.execute(
            GROWTH_UPSERT,
            [[row[0] for row in state], [row[3] for row in state]],
        )


def _floor(now: Any, rules: list[TierRule]) -> int:
    """The same evaluation with the least SQL; returns the members evaluated."""
    since, until = window(now)
    need_purchases = any(rule.metrics for rule in rules)
    evaluated, last_pk = 0, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT m.id, m.tier_id, m.tier_achieved_at, m.tier_assigned_until, COALESCE(g.value, 0) FROM members_member m"
                " LEFT JOIN members_growthvalue g ON g.member_id = m.id"
                " WHERE m.id > %s AND m.status = %s ORDER BY m.id LIMIT %s FOR UPDATE OF m",
                [last_pk, MemberStatus.ACTIVE, CHUNK],
            )
            rows = cursor.fetchall()
            if not rows:
                return evaluated
            ids = [row[0] for row in rows]
            cursor.execute(
                "SELECT member_id, sum(amount) FROM members_growthentry WHERE member_id = ANY(%s) AND created_at > %s AND created_at <= %s"
                " GROUP BY member_id",
                [ids, since, until],
            )
            figures = {pk: Standing(growth=total) for pk, total in cursor.fetchall()}
            if need_purchases:
                cursor.execute(
                    "SELECT member_id, count(*), sum(amount) FROM analytics_activityevent WHERE member_id = ANY(%s) AND kind = 'purchase'"
                    " AND occurred_at > %s AND occurred_at <= %s GROUP BY member_id",
                    [ids, since, until],
                )
                for pk, count, spend in cursor.fetchall():
                    standing = figures.setdefault(pk, Standing())
                    standing.purchases, standing.spend = count, spend
            moved, grown, changes = [], [], []
            for pk, tier_id, achieved, assigned, growth in rows:
                member = Member(pk=pk, tier_id=tier_id, tier_achieved_at=achieved, tier_assigned_until=assigned)
                standing = figures.get(pk, Standing())
                decision = decide(member, rules, standing, now)
                if standing.growth != growth:
                    grown.append((pk, standing.growth))
                if decision.kind:
                    moved.append((pk, decision.target.tier_id, now))
                    changes.append(
                        (pk, "promotion" if decision.kind == "promotion" else "demotion", tier_id, decision.target.tier_id, standing.growth)
                    )
            if grown:
                cursor.execute(
                    GROWTH_UPSERT,
                    [[row[0] for row in grown], [row[1] for row in grown]],
                )
            if moved:
                cursor.execute(
                    "UPDATE members_member AS m SET tier_id = s.tier_id, tier_achieved_at = s.achieved, updated_at = s.achieved"
                    " FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS s(id, tier_id, achieved) WHERE m.id = s.id",
                    [*([row[index] for row in moved] for index in range(3))],
                )
            if changes:
                cursor.execute(
                    "INSERT INTO members_tierchange (member_id, kind, from_tier_id, to_tier_id, growth_value, reason, reason_code,"
                    " reason_params, created_at)"
                    " SELECT s.member_id, s.kind, s.from_tier, s.to_tier, s.growth, 'benchmark floor', '', '{}', %s"
                    " FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::integer[])"
                    " AS s(member_id, kind, from_tier, to_tier, growth)",
                    [now, *([row[index] for row in changes] for index in range(5))],
                )
            evaluated += len(rows)
            last_pk = ids[-1]


def _timed(side: str, now: Any, rules: list[TierRule]) -> tuple[float, int, int, list[tuple]]:
    before = TierChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.perf_counter()
    evaluated = tiers_evaluate(now=now, chunk_size=CHUNK).evaluated if side == "evaluate" else _floor(now, rules)
    seconds = time.perf_counter() - started
    written = TierChange.objects.filter(pk__gt=before).count()
    return evaluated / seconds, evaluated, written, list(_with_growth(Member.objects).values_list("pk", "tier_id", "stored_growth"))


def run(size: str) -> list[dict[str, Any]]:
    ensure_members(SIZES[size])
    now = timezone.now()
    member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True))
    _generate(member_ids, now)
    results = []
    for conditions in (False, True):
        _configure(conditions)
        rules = [TierRule.of(tier) for tier in Tier.objects.order_by("rank")]
        state = _snapshot()
        figures: dict[str, list[float]] = {"evaluate": [], "floor": []}
        outcomes: dict[str, tuple[int, int, list[tuple]]] = {}
        for number in range(ROUNDS):
            for side in ("evaluate", "floor") if number % 2 == 0 else ("floor", "evaluate"):
                _restore(state)
                per_second, evaluated, written, after = _timed(side, now, rules)
                figures[side].append(per_second)
                outcomes[side] = (evaluated, written, after)
        _restore(state)
        if outcomes["evaluate"] != outcomes["floor"]:
            raise RuntimeError("tiers_evaluate and its floor did not make the same moves")
        evaluated, written, _after = outcomes["evaluate"]
        label = "tiers_evaluate, growth value only" if not conditions else "tiers_evaluate, with purchases and spend conditions"
        results.append(
            {
                "name": label,
                "figure": round(statistics.median(figures["evaluate"]), 1),
                "unit": "members/s",
                "baseline": round(statistics.median(figures["floor"]), 1),
                "baseline_name": f"floor: lock, grouped sums, one UPDATE and one INSERT per chunk ({evaluated} members, {written} moves, "
                f"{ROUNDS} alternating rounds, median; evaluate {[round(f) for f in figures['evaluate']]}, "
                f"floor {[round(f) for f in figures['floor']]})",
                "size": size,
            }
        )
    _configure(False)
    return results
