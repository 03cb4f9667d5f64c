"""The one place the rules app locks its rows.

Lock order (docs/architecture.md): rule → its cap counters → benefit → member → points account → grant; several rows of
one kind in primary-key order (counters in (rule, member, period, start) order, which their unique key follows).
"""

from collections.abc import Iterable

from django.db import connection

from apps.rules.evaluation import CounterKey
from apps.rules.models import EarningRule, RuleAward, RuleCounter


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
