"""The roll-ups the dashboards read: member-days, daily metrics per slice, weekly and monthly distinct-member figures,
monthly cohorts.

Two ways to bring them up to date, with the same answers:

- **Rebuild days** (``rollup_days``): every roll-up row of the given local days, and of their weeks and months, is
  deleted and aggregated again from the events. ``rollup_run(full=True)`` (and the first run) does it for every day:
  on PostgreSQL in one pass a table, the member-day table emptied with ``TRUNCATE`` (its readers wait for the rebuild
  to commit); elsewhere a month of days at a time.
- **Apply what changed** (``rollup_run()`` on PostgreSQL): only the (day, member) cells that events stored since the
  last run fall on are aggregated again; the daily, weekly, monthly and cohort figures are corrected by the difference
  between those cells' old and new rows. Its cost follows the number of new events, not the number of days they
  touch. New events are found by event id (a watermark), plus those recorded within ``ROLLUP_OVERLAP_MINUTES`` of the
  last run, so an event whose transaction committed after the run had read the watermark is still seen; re-reading a
  cell is harmless because each cell is rebuilt whole.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Count, DateField, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from apps.analytics.days import config, day_start, local_zone
from apps.analytics.models import (
    ActivityEvent,
    ActivityKind,
    CohortActivity,
    DailyMemberActivity,
    DailyMetric,
    PeriodKind,
    PeriodMetric,
    RollupState,
)
from apps.analytics.services.sql import compiled, insert_select
from apps.core.partitions import indexes_built_after_load
from apps.members.models import Member


def _local_day(expression: str) -> TruncDate:
    return TruncDate(expression, tzinfo=local_zone())


def _days_range_filter(name: str, days: list[date]) -> Q:
    return Q(**{f"{name}__gte": day_start(min(days)), f"{name}__lt": day_start(max(days) + timedelta(days=1))})


# Rebuilding whole days -----------------------------------------------------------------------------


def _rebuild_member_days(days: list[date]) -> None:
    DailyMemberActivity.objects.filter(day__in=days).delete()
    survey = Q(kind=ActivityKind.SURVEY)
    rows = (
        ActivityEvent.objects.filter(_days_range_filter("occurred_at", days))
        .annotate(d=_local_day("occurred_at"))
        .filter(d__in=days)
        .values("d", "member_id", "member__tier_id", "member__city", "member__source_channel")
        .annotate(
            n_events=Count("id"),
            n_purchases=Count("id", filter=Q(kind=ActivityKind.PURCHASE)),
            n_revenue=Coalesce(Sum("amount", filter=Q(kind=ActivityKind.PURCHASE)), Value(Decimal("0"))),
            n_redemptions=Count("id", filter=Q(kind=ActivityKind.BENEFIT_REDEMPTION)),
            n_attendances=Count("id", filter=Q(kind=ActivityKind.EVENT_ATTENDANCE)),
            n_referrals=Count("id", filter=Q(kind=ActivityKind.REFERRAL)),
            n_promoters=Count("id", filter=survey & Q(nps_score__gte=9)),
            n_passives=Count("id", filter=survey & Q(nps_score__gte=7, nps_score__lte=8)),
            n_detractors=Count("id", filter=survey & Q(nps_score__lte=6)),
        )
        .order_by()
    )
    columns = ["day", "member", "tier_id", "city", "channel", "events", "purchases", "revenue", "redemptions", "attendances"]
    columns += ["referrals", "promoters", "passives", "detractors"]
    insert_select(DailyMemberActivity, columns, *compiled(rows))


DAILY_SUMS = ["events", "purchases", "revenue", "redemptions", "attendances", "referrals", "promoters", "passives", "detractors"]


def _count_new_members(days: list[date]) -> None:
    """Set the new members of these days on their daily rows (adding a row where a slice had no activity)."""
    joined = (
        Member.objects.filter(_days_range_filter("joined_at", days))
        .annotate(d=_local_day("joined_at"))
        .filter(d__in=days)
        .values("d", "tier_id", "city", "source_channel")
        .annotate(n_new=Count("id"))
        .order_by()
    )
    insert_select(
        DailyMetric,
        ["day", "tier_id", "city", "channel", "new_members"],
        *compiled(joined),
        suffix="ON CONFLICT (day, tier_id, city, channel) DO UPDATE SET new_members = excluded.new_members",
    )


def _rebuild_daily_metrics(days: list[date]) -> None:
    DailyMetric.objects.filter(day__in=days).delete()
    activity = (
        DailyMemberActivity.objects.filter(day__in=days)
        .values("day", "tier_id", "city", "channel")
        .annotate(
            n_active=Count("id"),
            n_new=Value(0),
            n_purchasers=Count("id", filter=Q(purchases__gt=0)),
            **{f"n_{name}": Sum(name) for name in DAILY_SUMS},
        )
        .order_by()
    )
    columns = ["day", "tier_id", "city", "channel", "active_members", "new_members", "purchasers", *DAILY_SUMS]
    insert_select(DailyMetric, columns, *compiled(activity))
    _count_new_members(days)


def _period_start(day: date, kind: str) -> date:
    return day - timedelta(days=day.weekday()) if kind == PeriodKind.WEEK else day.replace(day=1)


def _period_end(start: date, kind: str) -> date:
    if kind == PeriodKind.WEEK:
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def _member_periods(kind: str, starts: list[date]) -> QuerySet:
    """One row per member and period: its slice (the greatest of the period, deterministic), days, purchases, revenue."""
    trunc = TruncWeek("day") if kind == PeriodKind.WEEK else TruncMonth("day")
    return (
        DailyMemberActivity.objects.filter(day__gte=min(starts), day__lt=_period_end(max(starts), kind))
        .annotate(p=trunc)
        .filter(p__in=starts)
        .values("p", "member_id")
        .annotate(
            s_tier=Max("tier_id"),
            s_city=Max("city"),
            s_channel=Max("channel"),
            s_purchases=Sum("purchases"),
            s_revenue=Sum("revenue"),
            s_joined=TruncMonth("member__joined_at", tzinfo=local_zone(), output_field=DateField()),
        )
        .order_by()
    )


PERIOD_COLUMNS = [
    "kind",
    "start",
    "tier_id",
    "city",
    "channel",
    "active_members",
    "purchasers",
    "repeat_purchasers",
    "purchases",
    "revenue",
]


def _rebuild_periods(days: list[date]) -> None:
    for kind in PeriodKind.values:
        starts = sorted({_period_start(day, kind) for day in days})
        PeriodMetric.objects.filter(kind=kind, start__in=starts).delete()
        inner, params = compiled(_member_periods(kind, starts))
        sql = f"""
            SELECT %s, x.p, x.s_tier, x.s_city, x.s_channel, COUNT(*),
                   SUM(CASE WHEN x.s_purchases > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN x.s_purchases > 1 THEN 1 ELSE 0 END),
                   SUM(x.s_purchases), SUM(x.s_revenue)
            FROM ({inner}) x GROUP BY x.p, x.s_tier, x.s_city, x.s_channel"""  # noqa: S608
        insert_select(PeriodMetric, PERIOD_COLUMNS, sql, (kind, *params))
        if kind == PeriodKind.MONTH:
            CohortActivity.objects.filter(month__in=starts).delete()
            sql = f"""
                SELECT x.s_joined, x.p, x.s_tier, x.s_city, x.s_channel, COUNT(*)
                FROM ({inner}) x GROUP BY x.s_joined, x.p, x.s_tier, x.s_city, x.s_channel"""  # noqa: S608
            insert_select(CohortActivity, ["cohort", "month", "tier_id", "city", "channel", "active_members"], sql, params)


def _joined_days(members: QuerySet) -> set[date]:
    return set(members.annotate(d=_local_day("joined_at")).values_list("d", flat=True).distinct().order_by())


def _touched_days(since: datetime | None) -> list[date]:
    """Local days with events recorded (or members created) after ``since``; every such day when ``since`` is None."""
    events = ActivityEvent.objects.all() if since is None else ActivityEvent.objects.filter(recorded_at__gt=since)
    members = Member.objects.all() if since is None else Member.objects.filter(created_at__gt=since)
    days = set(events.annotate(d=_local_day("occurred_at")).values_list("d", flat=True).distinct().order_by())
    days |= _joined_days(members)
    return sorted(day for day in days if day is not None)


def rollup_days(*, days: list[date]) -> None:
    """Rebuild the roll-ups of these local days (and of their weeks and months), in one transaction."""
    if not days:
        return
    days = sorted(set(days))
    with transaction.atomic():
        _rebuild_member_days(days)
        _rebuild_daily_metrics(days)
        _rebuild_periods(days)


# Applying what changed (PostgreSQL) ------------------------------------------------------------------
#
# Scratch tables of one run, dropped at its end (a failed run's vanish with its rolled-back transaction):
#   rollup_cells          (day, member_id) touched by new events
#   rollup_member_periods each touched (week or month, member) as it was (sign -1) and as it is now (sign +1)
#   rollup_daily_delta    the daily figures the removed (-) and the re-aggregated (+) member-days carry

DMA = DailyMemberActivity._meta.db_table
DAILY = DailyMetric._meta.db_table
PERIOD = PeriodMetric._meta.db_table
COHORT = CohortActivity._meta.db_table
EVENTS = ActivityEvent._meta.db_table
MEMBERS = Member._meta.db_table
SLICE = ["tier_id", "city", "channel"]
DAILY_DELTA = ["active_members", "purchasers", *DAILY_SUMS]
DAILY_NET = f"""
    SELECT day, tier_id, city, channel, {", ".join(f"sum({v}) AS {v}" for v in DAILY_DELTA)}
    FROM rollup_daily_delta GROUP BY day, tier_id, city, channel"""  # noqa: S608
SCRATCH = ["rollup_cells", "rollup_member_periods", "rollup_daily_delta"]


def _day_bounds(day: str) -> tuple[str, str]:
    """The instants a local day (a date column) starts and ends, for an index range on ``occurred_at``."""
    return f"({day}::timestamp AT TIME ZONE %(tz)s)", f"(({day} + 1)::timestamp AT TIME ZONE %(tz)s)"


def _collect_cells(cursor: CursorWrapper, *, after_event: int, since: datetime) -> list[date]:
    cursor.execute(
        f"""
        CREATE TEMP TABLE rollup_cells ON COMMIT DROP AS
        SELECT DISTINCT (e.occurred_at AT TIME ZONE %(tz)s)::date AS day, e.member_id
        FROM {EVENTS} e WHERE e.id > %(after)s OR e.recorded_at > %(since)s""",  # noqa: S608
        {"tz": config("TIME_ZONE"), "after": after_event, "since": since},
    )
    cursor.execute("ANALYZE rollup_cells")
    cursor.execute("SELECT DISTINCT day FROM rollup_cells ORDER BY day")
    return [row[0] for row in cursor.fetchall()]


def _member_periods_as_now(cursor: CursorWrapper, sign: int) -> None:
    """Each touched (period, member)'s slice (the greatest of the period), purchases, revenue and join month."""
    cursor.execute(
        f"""
        INSERT INTO rollup_member_periods
        SELECT %(sign)s, p.kind, p.start, p.member_id, max(d.tier_id), max(d.city), max(d.channel), sum(d.purchases),
               sum(d.revenue), date_trunc('month', m.joined_at AT TIME ZONE %(tz)s)::date
        FROM (SELECT DISTINCT k.kind, date_trunc(k.kind, c.day::timestamp)::date AS start,
                     (date_trunc(k.kind, c.day::timestamp) + k.length)::date AS stop, c.member_id
              FROM rollup_cells c CROSS JOIN (VALUES ('week', interval '7 days'), ('month', interval '1 month')) AS k(kind, length)) p
        JOIN {DMA} d ON d.member_id = p.member_id AND d.day >= p.start AND d.day < p.stop
        JOIN {MEMBERS} m ON m.id = p.member_id
        GROUP BY p.kind, p.start, p.member_id, m.joined_at""",  # noqa: S608
        {"sign": sign, "tz": config("TIME_ZONE")},
    )


# A member-day's figures (``DAILY_SUMS``, in order) from its events ``e``.
MEMBER_DAY_SUMS = """count(*), count(*) FILTER (WHERE e.kind = 'purchase'),
    COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'purchase'), 0),
    count(*) FILTER (WHERE e.kind = 'benefit_redemption'), count(*) FILTER (WHERE e.kind = 'event_attendance'),
    count(*) FILTER (WHERE e.kind = 'referral'), count(*) FILTER (WHERE e.kind = 'survey' AND e.nps_score >= 9),
    count(*) FILTER (WHERE e.kind = 'survey' AND e.nps_score BETWEEN 7 AND 8),
    count(*) FILTER (WHERE e.kind = 'survey' AND e.nps_score <= 6)"""


def _daily_delta_sql(source: str, sign: str) -> str:
    sums = ", ".join(f"{sign}sum({name})" for name in DAILY_SUMS)
    return f"""
        INSERT INTO rollup_daily_delta (day, tier_id, city, channel, {", ".join(DAILY_DELTA)})
        SELECT day, tier_id, city, channel, {sign}count(*), {sign}count(*) FILTER (WHERE purchases > 0), {sums}
        FROM {source} GROUP BY day, tier_id, city, channel"""  # noqa: S608


def _replace_cells(cursor: CursorWrapper, days: list[date]) -> None:
    """Delete the touched member-days and aggregate them again from their events, noting both in the daily delta.

    The events are read between the first touched day's start and the last one's end as well as per cell: constants
    the planner prunes the monthly partitions by, so only the touched months are read (docs/performance.md).
    """
    columns = ", ".join(["day", "member_id", *SLICE, *DAILY_SUMS])
    cursor.execute(
        f"""
        WITH removed AS (
            DELETE FROM {DMA} d USING rollup_cells c WHERE d.day = c.day AND d.member_id = c.member_id
            RETURNING d.day, d.tier_id, d.city, d.channel, {", ".join(f"d.{name}" for name in DAILY_SUMS)})
        {_daily_delta_sql("removed", "-")}"""  # noqa: S608
    )
    starts, ends = _day_bounds("c.day")
    cursor.execute(
        f"""
        WITH added AS (
            INSERT INTO {DMA} ({columns})
            SELECT c.day, c.member_id, m.tier_id, m.city, m.source_channel, {MEMBER_DAY_SUMS}
            FROM rollup_cells c
            JOIN {MEMBERS} m ON m.id = c.member_id
            JOIN {EVENTS} e ON e.member_id = c.member_id AND e.occurred_at >= {starts} AND e.occurred_at < {ends}
                AND e.occurred_at >= %(first)s AND e.occurred_at < %(end)s
            GROUP BY c.day, c.member_id, m.tier_id, m.city, m.source_channel
            RETURNING {columns})
        {_daily_delta_sql("added", "")}""",  # noqa: S608
        {"tz": config("TIME_ZONE"), "first": day_start(min(days)), "end": day_start(max(days) + timedelta(days=1))},
    )


def _apply(cursor: CursorWrapper, *, table: str, keys: list[str], values: list[str], delta: str, empty: str) -> None:
    """Add ``delta``'s net figures (grouped by ``keys``) to ``table``'s rows, add the rows it lacks, and delete the rows
    left with nothing to count. Updating and inserting apart keeps every intermediate row within its constraints."""
    matches = " AND ".join(f"t.{key} = n.{key}" for key in keys)
    cursor.execute(f"CREATE TEMP TABLE rollup_net ON COMMIT DROP AS {delta}")
    cursor.execute("ANALYZE rollup_net")
    cursor.execute(
        f"UPDATE {table} t SET {', '.join(f'{v} = t.{v} + n.{v}' for v in values)} FROM rollup_net n WHERE {matches}"  # noqa: S608
    )
    columns = ", ".join([*keys, *values])
    cursor.execute(
        f"""INSERT INTO {table} ({columns}) SELECT {", ".join(f"n.{c}" for c in [*keys, *values])} FROM rollup_net n
            WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {matches})"""  # noqa: S608
    )
    cursor.execute(f"DELETE FROM {table} t USING rollup_net n WHERE {matches} AND {empty}")  # noqa: S608
    cursor.execute("DROP TABLE rollup_net")


def _apply_changes(*, after_event: int, since: datetime) -> list[date]:
    """Roll up the cells touched by events stored after ``after_event`` (or recorded after ``since``); their days."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(SCRATCH)}")
        days = _collect_cells(cursor, after_event=after_event, since=since)
        cursor.execute(
            """CREATE TEMP TABLE rollup_member_periods (sign int, kind text, start date, member_id bigint, tier_id bigint,
               city text, channel text, purchases bigint, revenue numeric, joined date) ON COMMIT DROP"""
        )
        cursor.execute(
            f"""CREATE TEMP TABLE rollup_daily_delta ON COMMIT DROP AS
                SELECT day, tier_id, city, channel, {", ".join(f"0::numeric AS {name}" for name in DAILY_DELTA)}
                FROM {DAILY} WHERE false"""  # noqa: S608
        )
        if not days:
            cursor.execute(f"DROP TABLE {', '.join(SCRATCH)}")
            return days
        _member_periods_as_now(cursor, -1)
        _replace_cells(cursor, days)
        _member_periods_as_now(cursor, 1)
        cursor.execute("ANALYZE rollup_member_periods, rollup_daily_delta")
        _apply(
            cursor,
            table=DAILY,
            keys=["day", *SLICE],
            values=DAILY_DELTA,
            delta=DAILY_NET,
            empty="t.active_members = 0 AND t.new_members = 0",
        )
        _apply(
            cursor,
            table=PERIOD,
            keys=["kind", "start", *SLICE],
            values=PERIOD_COLUMNS[5:],
            delta="""SELECT kind, start, tier_id, city, channel, sum(sign) AS active_members,
                            sum(sign * (purchases > 0)::int) AS purchasers, sum(sign * (purchases > 1)::int) AS repeat_purchasers,
                            sum(sign * purchases) AS purchases, sum(sign * revenue) AS revenue
                     FROM rollup_member_periods GROUP BY kind, start, tier_id, city, channel""",
            empty="t.active_members = 0",
        )
        _apply(
            cursor,
            table=COHORT,
            keys=["cohort", "month", *SLICE],
            values=["active_members"],
            delta="""SELECT joined AS cohort, start AS month, tier_id, city, channel, sum(sign) AS active_members
                     FROM rollup_member_periods WHERE kind = 'month' GROUP BY joined, start, tier_id, city, channel""",
            empty="t.active_members = 0",
        )
        cursor.execute(f"DROP TABLE {', '.join(SCRATCH)}")
    return days


def _count_new_members_again(days: list[date]) -> None:
    """Count again the new members of the days members joined on since the last run."""
    DailyMetric.objects.filter(day__in=days).update(new_members=0)
    _count_new_members(days)
    DailyMetric.objects.filter(day__in=days, active_members=0, new_members=0).delete()


# Rebuilding everything (PostgreSQL) -------------------------------------------------------------------


def _rebuild_everything(cursor: CursorWrapper) -> list[date]:
    """Every roll-up row again from every event, one pass a table: the member-days in one aggregate of the events, then
    the daily, weekly, monthly and cohort rows each in one aggregate of the member-days. The local days with figures."""
    tz = config("TIME_ZONE")
    sums = ", ".join(DAILY_SUMS)
    # The member-days are emptied and written in key order, their other index built after: kept up row by row, it
    # took every insert at a random page, and the unique key checked each row against the deleted one it replaced.
    cursor.execute(f"TRUNCATE {DMA}")
    with indexes_built_after_load(DMA):
        cursor.execute(
            f"""
            INSERT INTO {DMA} (day, member_id, {", ".join(SLICE)}, {sums})
            SELECT a.day, a.member_id, m.tier_id, m.city, m.source_channel, {", ".join(f"a.{name}" for name in DAILY_SUMS)}
            FROM (SELECT (e.occurred_at AT TIME ZONE %(tz)s)::date AS day, e.member_id, {MEMBER_DAY_SUMS}
                  FROM {EVENTS} e GROUP BY 1, 2) AS a ({", ".join(["day", "member_id", *DAILY_SUMS])})
            JOIN {MEMBERS} m ON m.id = a.member_id
            ORDER BY a.day, a.member_id""",  # noqa: S608
            {"tz": tz},
        )
    cursor.execute(f"ANALYZE {DMA}")
    for table in (DAILY, PERIOD, COHORT):
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608
    cursor.execute(
        f"""
        INSERT INTO {DAILY} (day, {", ".join(SLICE)}, active_members, new_members, purchasers, {sums})
        SELECT day, tier_id, city, channel, count(*), 0, count(*) FILTER (WHERE purchases > 0),
               {", ".join(f"sum({name})" for name in DAILY_SUMS)}
        FROM {DMA} GROUP BY day, tier_id, city, channel"""  # noqa: S608
    )
    _count_new_members(sorted(_joined_days(Member.objects.all())))
    for kind in PeriodKind.values:
        # Each (period, member): its slice (the greatest of the period, as the day rebuild takes it), purchases, revenue.
        member_periods = f"""
            SELECT date_trunc('{kind}', d.day::timestamp)::date AS start, d.member_id, max(d.tier_id) AS tier_id,
                   max(d.city) AS city, max(d.channel) AS channel, sum(d.purchases) AS purchases, sum(d.revenue) AS revenue
            FROM {DMA} d GROUP BY 1, 2"""  # noqa: S608
        cursor.execute(
            f"""
            INSERT INTO {PERIOD} ({", ".join(PERIOD_COLUMNS)})
            SELECT %(kind)s, start, tier_id, city, channel, count(*), count(*) FILTER (WHERE purchases > 0),
                   count(*) FILTER (WHERE purchases > 1), sum(purchases), sum(revenue)
            FROM ({member_periods}) p GROUP BY start, tier_id, city, channel""",  # noqa: S608
            {"kind": kind},
        )
        if kind == PeriodKind.MONTH:
            cursor.execute(
                f"""
                INSERT INTO {COHORT} (cohort, month, {", ".join(SLICE)}, active_members)
                SELECT date_trunc('month', m.joined_at AT TIME ZONE %(tz)s)::date, p.start, p.tier_id, p.city, p.channel,
                       count(*)
                FROM ({member_periods}) p JOIN {MEMBERS} m ON m.id = p.member_id
                GROUP BY 1, p.start, p.tier_id, p.city, p.channel""",  # noqa: S608
                {"tz": tz},
            )
    cursor.execute(f"SELECT DISTINCT day FROM {DAILY} ORDER BY day")  # noqa: S608
    return [row[0] for row in cursor.fetchall()]


# The job ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupResult:
    days: list[date]
    watermark: datetime


def rollup_run(*, now: datetime | None = None, full: bool = False, chunk_days: int = 31) -> RollupResult:
    """Bring the roll-ups up to date with the events stored since the last run (late ones included), in one
    transaction; safe to re-run and to run twice at once (the state row is locked). ``full`` rebuilds every day, as
    does the first run. On PostgreSQL only the touched (day, member) cells are aggregated again; elsewhere (the
    embedded SQLite) the days they fall on are rebuilt whole. ``days`` are the local days whose figures were touched.
    """
    now = now or timezone.now()
    RollupState.objects.get_or_create(name="activity")
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(name="activity")
        # Read before looking for changes: an event stored meanwhile is above it and is seen next time.
        last_event = ActivityEvent.objects.aggregate(n=Max("pk"))["n"] or 0
        rebuild = full or state.watermark is None or state.last_event_id is None
        since = None if rebuild else state.watermark - timedelta(minutes=config("ROLLUP_OVERLAP_MINUTES"))
        if rebuild and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                days = _rebuild_everything(cursor)
        elif rebuild or connection.vendor != "postgresql":
            days = _touched_days(since)
            if full:
                DailyMemberActivity.objects.all().delete()
                DailyMetric.objects.all().delete()
                PeriodMetric.objects.all().delete()
                CohortActivity.objects.all().delete()
            # Days are rebuilt a month at a time (weeks and months are re-aggregated whole from the member-day rows), all
            # in this one transaction: readers keep seeing the previous roll-up until it commits.
            for start in range(0, len(days), chunk_days):
                rollup_days(days=days[start : start + chunk_days])
        else:
            days = _apply_changes(after_event=state.last_event_id, since=since)
            joined = sorted(_joined_days(Member.objects.filter(created_at__gt=since)))
            if joined:
                _count_new_members_again(joined)
            days = sorted(set(days) | set(joined))
        state.watermark = now
        state.last_event_id = last_event
        state.finished_at = timezone.now()
        state.days_rebuilt = len(days)
        state.save()
    return RollupResult(days=days, watermark=now)
