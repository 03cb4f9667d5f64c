"""The analytics dashboard on a generated programme: each figure read from the roll-ups, beside the same figure
computed from the raw activity table (same run, same data, same answers — checked), and the roll-up job itself."""

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.test import Client

from apps.analytics import selectors, services
from apps.analytics.days import day_start, local_zone
from apps.analytics.management.commands.generate_large_dataset import add_events, add_members
from apps.analytics.models import ActivityEvent, ActivityKind, CohortActivity, DailyMemberActivity, DailyMetric, PeriodMetric
from apps.core.models import User
from apps.members.models import Member

SIZES = {"quick": (20_000, 200_000), "full": (1_000_000, 10_000_000)}
REPEATS = 5
# Rounds of the roll-up cases: each round adds 1,000 events, times the incremental job, then a full rebuild.
ROLLUP_ROUNDS = {"quick": 5, "full": 3}
# Where the 1,000 new events of each roll-up case fall: on the last two days, or late and scattered over the year.
ROLLUP_CASES = {"on the last two days": timedelta(days=2), "late, scattered over the year": timedelta(days=365)}


def _median_ms(action: Callable[[], Any]) -> tuple[float, Any]:
    answer = action()
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        answer = action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), answer


def _ensure_data(members: int, events: int) -> None:
    have_members = Member.objects.count()
    if have_members < members:
        add_members(members - have_members)
    have_events = ActivityEvent.objects.filter(source="generator").count()
    if have_events < events * 0.95:
        add_events(events - have_events, run=f"bench{int(time.time())}")
        services.rollup_run(full=True)
        services.rfm_score_members()
    else:
        services.rollup_run()


def _raw_daily(f: selectors.MetricFilter) -> dict:
    rows = (
        ActivityEvent.objects.filter(occurred_at__gte=day_start(f.start), occurred_at__lt=day_start(f.end + timedelta(days=1)))
        .annotate(d=TruncDate("occurred_at", tzinfo=local_zone()))
        .values("d")
        .annotate(dau=Count("member_id", distinct=True))
        .order_by()
    )
    return {row["d"]: row["dau"] for row in rows}


def _raw_monthly(f: selectors.MetricFilter) -> dict:
    first = f.months[0]
    rows = (
        ActivityEvent.objects.filter(occurred_at__gte=day_start(first), occurred_at__lt=day_start(f.end + timedelta(days=1)))
        .annotate(m=TruncMonth("occurred_at", tzinfo=local_zone()))
        .values("m")
        .annotate(
            mau=Count("member_id", distinct=True),
            buyers=Count("member_id", distinct=True, filter=Q(kind=ActivityKind.PURCHASE)),
            revenue=Sum("amount"),
        )
        .order_by()
    )
    return {row["m"].date() if hasattr(row["m"], "date") else row["m"]: row["mau"] for row in rows}


def _raw_cohorts(f: selectors.MetricFilter) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT date_trunc('month', m.joined_at AT TIME ZONE 'Asia/Shanghai') AS cohort,
                   date_trunc('month', e.occurred_at AT TIME ZONE 'Asia/Shanghai') AS month, count(DISTINCT e.member_id)
            FROM analytics_activityevent e JOIN members_member m ON m.id = e.member_id
            WHERE m.joined_at >= %s AND e.occurred_at >= %s GROUP BY 1, 2
            """,
            [day_start(f.months[0]), day_start(f.months[0])],
        )
        return len(cursor.fetchall())


def run(size: str) -> list[dict[str, Any]]:
    members, events = SIZES[size]
    _ensure_data(members, events)
    total_events = ActivityEvent.objects.count()
    label = f"{total_events:,} events, {Member.objects.count():,} members"
    today = selectors.local_today()
    quarter = selectors.MetricFilter(start=today - timedelta(days=89), end=today)
    year = selectors.MetricFilter(start=(today - timedelta(days=335)).replace(day=1), end=today)
    results = []

    rolled_ms, rolled = _median_ms(lambda: selectors.daily_activity(f=quarter))
    raw_ms, raw = _median_ms(lambda: _raw_daily(quarter))
    assert {row[0]: row[1] for row in rolled.rows if row[1]} == raw, "daily active members differ between roll-up and raw"
    results.append(_result("DAU series, 90 days", rolled_ms, raw_ms, label))

    rolled_ms, rolled = _median_ms(lambda: selectors.monthly_activity(f=year))
    raw_ms, raw = _median_ms(lambda: _raw_monthly(year))
    assert {row[0]: row[1] for row in rolled.rows if row[1]} == raw, "monthly active members differ between roll-up and raw"
    results.append(_result("MAU, stickiness, repurchase by month, 12 months", rolled_ms, raw_ms, label))

    rolled_ms, _rolled = _median_ms(lambda: selectors.cohort_retention(f=year))
    raw_ms, _raw = _median_ms(lambda: _raw_cohorts(year))
    results.append(_result("cohort retention table, 12 cohorts", rolled_ms, raw_ms, label))

    user, _created = User.objects.get_or_create(username="bench-analyst", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    params = quarter.as_params()

    def page() -> None:
        response = client.get("/admin/analytics/dailymetric/", params)
        assert response.status_code == 200, response.status_code

    page_ms, _answer = _median_ms(page)
    raw_total = sum(
        _median_ms(action)[0] for action in (lambda: _raw_daily(quarter), lambda: _raw_monthly(quarter), lambda: _raw_cohorts(quarter))
    )
    results.append(
        {
            "name": "analytics dashboard page (every figure)",
            "figure": round(page_ms, 1),
            "unit": "ms",
            "baseline": round(raw_total, 1),
            "baseline_name": "its DAU, MAU and cohort figures alone from the raw table",
            "size": label,
        }
    )

    results += rollup_cases(size, label)
    started = time.perf_counter()
    scored = services.rfm_score_members()
    results.append(
        {
            "name": "RFM scoring (NTILE, set-based)",
            "figure": round(time.perf_counter() - started, 2),
            "unit": "s",
            "baseline": 0,
            "baseline_name": "none",
            "size": f"{scored:,} members",
        }
    )
    return results


def _result(name: str, rolled_ms: float, raw_ms: float, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "figure": round(rolled_ms, 2),
        "unit": "ms",
        "baseline": round(raw_ms, 2),
        "baseline_name": "same figure from the raw activity table",
        "size": label,
    }


def _add_new_events(spread: timedelta) -> None:
    """1,000 events stored now that happened within ``spread`` before now."""
    add_events(1_000, run=f"new{time.time_ns()}", within=spread)


def _rollup_fingerprint() -> list[tuple[str, int, int]]:
    """Per roll-up table: its rows and a checksum of their contents (every column but the id)."""
    fingerprint = []
    with connection.cursor() as cursor:
        for model in (DailyMemberActivity, DailyMetric, PeriodMetric, CohortActivity):
            columns = ", ".join(f.column for f in model._meta.concrete_fields if f.column != "id")
            cursor.execute(f"SELECT count(*), COALESCE(sum(hashtext(ROW({columns})::text)::bigint), 0) FROM {model._meta.db_table}")
            fingerprint.append((model._meta.db_table, *cursor.fetchone()))
    return fingerprint


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = action()
    return time.perf_counter() - started, answer


def _vacuumed_then_timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """``action`` timed on freshly vacuumed events and roll-ups: both sides start without the dead rows the previous
    one left (every rebuild deletes every roll-up row), which would otherwise slow whichever runs later."""
    with connection.cursor() as cursor:
        tables = [ActivityEvent._meta.db_table] + [
            m._meta.db_table for m in (DailyMemberActivity, DailyMetric, PeriodMetric, CohortActivity)
        ]
        cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}")
    return _timed(action)


def rollup_cases(size: str, label: str) -> list[dict[str, Any]]:
    """The hourly job after 1,000 new events — on the last two days, then late ones scattered over the year — beside a
    full rebuild of the same data, alternated over rounds; the incremental roll-ups must have written exactly the rows
    the full rebuild writes. The overlap is off: rounds are seconds apart, and with it each case would also re-read the
    previous case's events (the hourly job re-reads only what was recorded in the 15 minutes before its last run)."""
    settings.USEROPS_ANALYTICS = {**settings.USEROPS_ANALYTICS, "ROLLUP_OVERLAP_MINUTES": 0}
    services.rollup_run()
    incremental: dict[str, list[float]] = {case: [] for case in ROLLUP_CASES}
    days: dict[str, list[int]] = {case: [] for case in ROLLUP_CASES}
    full: list[float] = []
    for _round in range(ROLLUP_ROUNDS[size]):
        for case, spread in ROLLUP_CASES.items():
            _add_new_events(spread)
            seconds, result = _vacuumed_then_timed(services.rollup_run)
            incremental[case].append(seconds)
            days[case].append(len(result.days))
        rolled = _rollup_fingerprint()
        seconds, result = _vacuumed_then_timed(lambda: services.rollup_run(full=True))
        full.append(seconds)
        assert _rollup_fingerprint() == rolled, "the incremental roll-ups differ from a full rebuild"
        progress = ", ".join(f"{case} {times[-1]:.2f} s" for case, times in incremental.items())
        print(f"  roll-up round {_round + 1}: {progress}; full rebuild {seconds:.2f} s", flush=True)
    return [
        {
            "name": f"roll-up job, 1,000 new events {case}",
            "figure": round(statistics.median(incremental[case]), 3),
            "unit": "s",
            "baseline": round(statistics.median(full), 3),
            "baseline_name": f"full rebuild of {len(result.days)} days; medians of {len(full)} alternated rounds",
            "size": f"{label}; {statistics.median(days[case]):.0f} days touched",
        }
        for case in ROLLUP_CASES
    ]
