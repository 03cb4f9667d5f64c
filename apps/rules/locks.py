"""The one place the rules app locks its rows.

Lock order (docs/architecture.md): rule → its cap counters → benefit → member → points account → grant; several rows of
one kind in primary-key order (counters in (rule, member, period, start) order, which their unique key follows).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from django.db import connection

from apps.rules.evaluation import CounterKey
from apps.rules.models import EarningRule, RuleAward, RuleCounter


@dataclass
class CounterState:
    """A cap counter as the batch path reads and stores it, without a model instance (a batch moves thousands):
    ``pk`` is None for a counter that does not exist yet."""

    rule_id: int
    member_id: int
    period: str
    period_start: date
    count: int = 0
    points: int = 0
    pk: int | None = None


def lock_rule(*, rule_id: int) -> EarningRule:
    return EarningRule.objects.select_for_update().get(pk=rule_id)


def lock_rules(*, rule_ids: Iterable[int]) -> list[EarningRule]:
    return list(EarningRule.objects.select_for_update().filter(pk__in=set(rule_ids)).order_by("pk"))


def lock_counters(*, keys: Iterable[CounterKey]) -> list[RuleCounter]:
    """Create the missing counters and lock them all, in key order, reading their values as committed.

    On PostgreSQL one statement: INSERT … ON CONFLICT DO UPDATE (a no-op update, which locks an existing row and, when
    another transaction holds it, waits and then returns the row as that transaction committed it) … RETURNING.
    """
    keys = sorted(set(keys))
    if not keys:
        return []
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(RuleCounter._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS c (rule_id, member_id, period, period_start, count, points)"  # noqa: S608 (our table)
                " SELECT k.rule_id, k.member_id, k.period, k.period_start, 0, 0"
                " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::date[])"
                " WITH ORDINALITY AS k(rule_id, member_id, period, period_start, n)"
                " ORDER BY k.n"
                " ON CONFLICT (rule_id, member_id, period, period_start) DO UPDATE SET count = c.count"
                " RETURNING c.id, c.rule_id, c.member_id, c.period, c.period_start, c.count, c.points",
                [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [k[3] for k in keys]],
            )
            rows = cursor.fetchall()
        return [
            RuleCounter(id=pk, rule_id=rule, member_id=member, period=period, period_start=start, count=count, points=points)
            for pk, rule, member, period, start, count, points in rows
        ]
    RuleCounter.objects.bulk_create(
        [RuleCounter(rule_id=rule, member_id=member, period=period, period_start=start) for rule, member, period, start in keys],
        ignore_conflicts=True,
    )
    # SQLite (the embedded run) has one writer and no row locks: read a superset by column and keep the keys asked for.
    wanted = set(keys)
    rows = RuleCounter.objects.filter(
        rule_id__in={k[0] for k in keys}, member_id__in={k[1] for k in keys}, period__in={k[2] for k in keys}
    ).order_by("rule_id", "member_id", "period", "period_start")
    return [row for row in rows if (row.rule_id, row.member_id, row.period, row.period_start) in wanted]


def lock_existing_counters(*, keys: Iterable[CounterKey]) -> dict[CounterKey, RuleCounter | CounterState]:
    """Lock the counters of ``keys`` that exist, in key order, reading their values as committed; create none.

    The first half of the batch path's one-write-per-counter store (``counters_save`` is the second): a counter that
    does not exist yet is decided from zero and inserted once with its final values, instead of being inserted empty and
    then updated. On SQLite (one writer, no row locks) the missing counters are created, so nothing is left to insert.
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    if connection.vendor != "postgresql":
        return {(c.rule_id, c.member_id, c.period, c.period_start): c for c in lock_counters(keys=keys)}
    table = connection.ops.quote_name(RuleCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, c.rule_id, c.member_id, c.period, c.period_start, c.count, c.points FROM {table} AS c"  # noqa: S608 (our table)
            " JOIN unnest(%s::bigint[], %s::bigint[], %s::text[], %s::date[]) AS k(rule_id, member_id, period, period_start)"
            " ON c.rule_id = k.rule_id AND c.member_id = k.member_id AND c.period = k.period AND c.period_start = k.period_start"
            " ORDER BY c.rule_id, c.member_id, c.period, c.period_start FOR UPDATE OF c",
            [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [k[3] for k in keys]],
        )
        rows = cursor.fetchall()
    return {
        (rule, member, period, start): CounterState(rule, member, period, start, count=count, points=points, pk=pk)
        for pk, rule, member, period, start, count, points in rows
    }


def counters_save(*, counters: Sequence[RuleCounter | CounterState]) -> bool:
    """Store counters decided after ``lock_existing_counters`` in one statement: those with an id updated, the others
    inserted with their values, in key order.

    False when another transaction created one of the new counters first (its insert waited for that one to commit and
    skipped the row): the caller's decision was made on a zero that is not there, so it must roll back to before
    ``lock_existing_counters`` and decide again with every counter locked (``lock_counters``).
    """
    if not counters:
        return True
    if connection.vendor != "postgresql":
        counters_store(counters=counters)
        return True
    new = sorted((c for c in counters if c.pk is None), key=lambda c: (c.rule_id, c.member_id, c.period, c.period_start))
    old = [c for c in counters if c.pk is not None]
    table = connection.ops.quote_name(RuleCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH added AS (INSERT INTO {table} AS c (rule_id, member_id, period, period_start, count, points)"  # noqa: S608 (our table)
            " SELECT k.rule_id, k.member_id, k.period, k.period_start, k.count, k.points"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::date[], %s::integer[], %s::bigint[])"
            " WITH ORDINALITY AS k(rule_id, member_id, period, period_start, count, points, n)"
            " ORDER BY k.n"
            " ON CONFLICT (rule_id, member_id, period, period_start) DO NOTHING RETURNING 1),"
            f" stored AS (UPDATE {table} AS c SET count = v.count, points = v.points"
            " FROM unnest(%s::bigint[], %s::integer[], %s::bigint[]) AS v(id, count, points) WHERE c.id = v.id)"
            " SELECT count(*) FROM added",
            [
                [c.rule_id for c in new],
                [c.member_id for c in new],
                [c.period for c in new],
                [c.period_start for c in new],
                [c.count for c in new],
                [c.points for c in new],
                [c.pk for c in old],
                [c.count for c in old],
                [c.points for c in old],
            ],
        )
        return cursor.fetchone()[0] == len(new)


def counters_store(*, counters: list[RuleCounter]) -> None:
    """Write the locked counters' new values in one statement."""
    if not counters:
        return
    if connection.vendor != "postgresql":
        RuleCounter.objects.bulk_update(counters, ["count", "points"])
        return
    table = connection.ops.quote_name(RuleCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET count = v.count, points = v.points"  # noqa: S608 (our table)
            " FROM unnest(%s::bigint[], %s::integer[], %s::bigint[]) AS v(id, count, points) WHERE c.id = v.id",
            [[c.pk for c in counters], [c.count for c in counters], [c.points for c in counters]],
        )


def lock_awards(*, award_ids: Iterable[int]) -> list[RuleAward]:
    return list(RuleAward.objects.select_for_update().filter(pk__in=set(award_ids)).order_by("pk"))
