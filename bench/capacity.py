"""How the analytics work grows with the activity table: the same programme measured at two sizes in one run.

The programme keeps its members; the activity events grow (``SIZES``: 10 then 50 million at full size, a year of
events in the monthly partitions). At each size, in this order:

- **full roll-up** (``rollup_run(full=True)``), beside its floor: one ``INSERT … SELECT`` of the member-day aggregate
  of every event into a scratch table (the largest statement any rebuild must run), checked to hold the same
  member-days as the roll-up;
- **RFM scoring** of every member (``rfm_score_members``);
- **the dashboard page** (every figure, read from the roll-ups), median of five;
- **the nightly roll-up**: a day's share of the year's events (``events / 365``) stored on the last day, then the
  incremental job (``rollup_run``), checked against the floor's aggregate of every event afterwards;
- **storage**: bytes per row of the events (table and each index), the member-day roll-up, members and a sample of
  points ledger rows written into a scratch copy of the ledger's tables (the product's ledger stays untouched).

Each figure at the larger size is reported beside the same figure at the smaller one (the ratio is the growth
factor); the roll-up is also reported beside its floor at each size. Adding the events between the sizes is timed
too (rows/s of set-based generation: the bulk-load ceiling, not the ingest API's rate).

``BENCH_CAPACITY_EVENTS=small,large`` runs other sizes (a shared machine may not hold 50 million events in the time
there is); the database must not hold more generated events than the smaller size.
"""

import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.test import Client

from apps.analytics import selectors, services
from apps.analytics.days import config
from apps.analytics.management.commands.generate_large_dataset import add_events, add_members
from apps.analytics.models import ActivityEvent, DailyMemberActivity
from apps.core.models import User
from apps.members.models import Member, PointsEntry, PointsLot

SIZES = {"quick": (10_000, 100_000, 500_000), "full": (1_000_000, 10_000_000, 50_000_000)}  # members, events, events
LEDGER_SAMPLE = {"quick": 10_000, "full": 1_000_000}
PAGE_REPEATS = 5
EVENTS = ActivityEvent._meta.db_table
DMA = DailyMemberActivity._meta.db_table
FLOOR = "bench_capacity_member_days"
SCRATCH_LEDGER = {PointsEntry._meta.db_table: "bench_capacity_ledger", PointsLot._meta.db_table: "bench_capacity_lots"}


def _sizes(size: str) -> tuple[int, int, int]:
    members, small, large = SIZES[size]
    override = os.environ.get("BENCH_CAPACITY_EVENTS")
    if override:
        small, large = (int(part) for part in override.split(","))
    if not 0 < small < large:
        raise ValueError(f"BENCH_CAPACITY_EVENTS must be two growing sizes, not {override!r}")
    return members, small, large


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = action()
    return time.perf_counter() - started, answer


def _generated_events() -> int:
    return ActivityEvent.objects.filter(source="generator").count()


def _grow_to(events: int) -> float:
    """Add generated events up to ``events``; the rows per second of adding them."""
    missing = events - _generated_events()
    if missing <= 0:
        return 0.0
    seconds, added = _timed(lambda: add_events(missing, run=f"capacity{time.time_ns()}"))
    return added / seconds


def _member_days_floor() -> tuple[float, int]:
    """The member-day aggregate of every event in one statement, into a scratch table: seconds, rows."""
    tz = config("TIME_ZONE")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FLOOR}")
        started = time.perf_counter()
        cursor.execute(
            f"""CREATE UNLOGGED TABLE {FLOOR} AS
                SELECT (e.occurred_at AT TIME ZONE %s)::date AS day, e.member_id, count(*) AS events,
                       count(*) FILTER (WHERE e.kind = 'purchase') AS purchases,
                       COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'purchase'), 0) AS revenue
                FROM {EVENTS} e GROUP BY 1, 2""",
            [tz],
        )
        return time.perf_counter() - started, cursor.rowcount


def _member_days_match_floor() -> bool:
    """The roll-up's member-days hold exactly the floor's (day, member, events, purchases, revenue)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*) FROM (
                    (SELECT day, member_id, events, purchases, revenue FROM {DMA}
                     EXCEPT ALL SELECT day, member_id, events, purchases, revenue FROM {FLOOR})
                    UNION ALL
                    (SELECT day, member_id, events, purchases, revenue FROM {FLOOR}
                     EXCEPT ALL SELECT day, member_id, events, purchases, revenue FROM {DMA})) differences"""
        )
        return cursor.fetchone()[0] == 0


def _dashboard_ms() -> float:
    user, _created = User.objects.get_or_create(username="bench-analyst", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    today = selectors.local_today()
    params = selectors.MetricFilter(start=today - timedelta(days=89), end=today).as_params()

    def page() -> None:
        response = client.get("/admin/analytics/dailymetric/", params)
        assert response.status_code == 200, response.status_code

    page()
    timings = [_timed(page)[0] * 1000 for _ in range(PAGE_REPEATS)]
    return statistics.median(timings)


def _table_bytes(cursor: Any, table: str) -> tuple[int, dict[str, int]]:
    """A table's bytes (heap and TOAST; a partitioned table's summed over its partitions) and each index's."""
    cursor.execute(
        """SELECT COALESCE(sum(pg_table_size(c.oid)), 0) FROM pg_class c
           WHERE c.oid = %s::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)""",
        [table, table],
    )
    heap = int(cursor.fetchone()[0])
    cursor.execute(
        """SELECT ic.relname, pg_relation_size(ic.oid)
                  + COALESCE((SELECT sum(pg_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = ic.oid), 0)
           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = %s::regclass ORDER BY ic.relname""",
        [table],
    )
    return heap, {name: int(size) for name, size in cursor.fetchall()}


def _bytes_per_row(cursor: Any, table: str, rows: int, label: str, *, each_index: bool = False) -> dict[str, float]:
    heap, indexes = _table_bytes(cursor, table)
    figures = {f"{label}: table": heap / rows, f"{label}: its {len(indexes)} indexes": sum(indexes.values()) / rows}
    if each_index:
        figures |= {f"{label}: index {name}": size / rows for name, size in indexes.items()}
    return figures


def _ledger_sample(rows: int) -> dict[str, float]:
    """Bytes per row of the points ledger and its lots, measured on scratch copies of their tables (same columns,
    checks and indexes) holding ``rows`` earn entries with a lot each, spread over a year."""
    entries, lots = SCRATCH_LEDGER[PointsEntry._meta.db_table], SCRATCH_LEDGER[PointsLot._meta.db_table]
    with connection.cursor() as cursor:
        for source, scratch in SCRATCH_LEDGER.items():
            cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
            cursor.execute(f"CREATE TABLE {scratch} (LIKE {source} INCLUDING ALL)")
        cursor.execute(
            f"""INSERT INTO {entries} (account_id, kind, amount, balance_after, reason, source_ref, idempotency_key,
                                      expires_at, created_at, reason_code, reason_params)
                SELECT a.id, 'earn', 1 + g %% 500, 1 + g %% 500, 'Purchase GEN-' || g, 'order:GEN-' || g, '',
                       now() + interval '1 year' - (g %% 365) * interval '1 day', now() - (g %% 365) * interval '1 day',
                       'purchase', '{{}}'
                FROM generate_series(1, %s) AS g
                JOIN {Member._meta.db_table} m ON m.id = (SELECT min(id) FROM {Member._meta.db_table}) + g %% %s
                JOIN members_pointsaccount a ON a.member_id = m.id""",
            [rows, Member.objects.count()],
        )
        written = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO {lots} (account_id, entry_id, amount, remaining, expires_at)
                SELECT account_id, id, amount, amount, expires_at FROM {entries}"""
        )
        cursor.execute(f"VACUUM ANALYZE {entries}")
        cursor.execute(f"VACUUM ANALYZE {lots}")
        figures = _bytes_per_row(cursor, entries, written, "points ledger entry", each_index=True)
        figures |= _bytes_per_row(cursor, lots, written, "points lot")
        for scratch in SCRATCH_LEDGER.values():
            cursor.execute(f"DROP TABLE {scratch}")
    return figures


def _storage(events: int) -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DMA}")
        member_days = cursor.fetchone()[0]
        members = Member.objects.count()
        figures = _bytes_per_row(cursor, EVENTS, events, "activity event", each_index=True)
        figures |= _bytes_per_row(cursor, DMA, member_days, "member-day roll-up row")
        figures |= _bytes_per_row(cursor, Member._meta.db_table, members, "member")
        figures |= _bytes_per_row(cursor, "members_pointsaccount", members, "points account")
    return figures


def _measure(events: int) -> dict[str, float]:
    """Every figure at the current size (``events`` generated events, a year of them)."""
    figures: dict[str, float] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {EVENTS}")
    figures["full roll-up"], _result = _timed(lambda: services.rollup_run(full=True))
    figures["full roll-up floor"], floor_rows = _member_days_floor()
    assert DailyMemberActivity.objects.count() == floor_rows, "the full roll-up and its floor differ in member-days"
    figures["RFM scoring"], figures["members scored"] = _timed(services.rfm_score_members)
    figures["dashboard page"] = _dashboard_ms()
    day_events = max(events // 365, 1)
    add_events(day_events, run=f"day{time.time_ns()}", within=timedelta(days=1))
    figures["nightly roll-up"], result = _timed(services.rollup_run)
    figures["nightly roll-up days touched"] = len(result.days)
    figures["nightly roll-up events"] = day_events
    _member_days_floor()
    assert _member_days_match_floor(), "the nightly roll-up's member-days differ from the events"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {FLOOR}")
    figures["total events"] = ActivityEvent.objects.count()
    figures["member-days per event"] = DailyMemberActivity.objects.count() / figures["total events"]
    return figures


def _report_progress(figures: dict[str, float]) -> None:
    """One size's figures as soon as they are known: a long run stopped later keeps them."""
    print(f"  at {figures['total events']:,.0f} events: " + ", ".join(f"{k} {v:,.2f}" for k, v in figures.items()), flush=True)


def run(size: str) -> list[dict[str, Any]]:
    members, small, large = _sizes(size)
    settings.USEROPS_ANALYTICS = {**settings.USEROPS_ANALYTICS, "ROLLUP_OVERLAP_MINUTES": 0}
    have = _generated_events()
    if have > small * 1.05:
        raise ValueError(f"the database holds {have:,} generated events, more than the smaller size ({small:,}): use an empty one")
    if Member.objects.count() < members:
        add_members(members - Member.objects.count())
    _grow_to(small)
    measured = {"small": _measure(small)}
    _report_progress(measured["small"])
    load_rate = _grow_to(large)
    measured["large"] = _measure(large)
    _report_progress(measured["large"])
    storage = _storage(int(measured["large"]["total events"]))
    storage |= _ledger_sample(LEDGER_SAMPLE[size])
    return _results(Member.objects.count(), measured, load_rate, storage)


def _results(members: int, measured: dict[str, dict[str, float]], load_rate: float, storage: dict[str, float]) -> list[dict[str, Any]]:
    small, large = measured["small"], measured["large"]
    small_label = f"{small['total events']:,.0f} events"
    large_label = f"{large['total events']:,.0f} events, {members:,} members"
    results = [
        {
            "name": f"{name} at the larger size",
            "figure": round(large[key] * scale, 2),
            "unit": unit,
            "baseline": round(small[key] * scale, 2),
            "baseline_name": f"same at {small_label} (ratio = growth factor)",
            "size": large_label,
        }
        for name, key, unit, scale in (
            ("full roll-up (every day)", "full roll-up", "s", 1),
            ("full roll-up floor (member-day aggregate)", "full roll-up floor", "s", 1),
            ("RFM scoring", "RFM scoring", "s", 1),
            ("dashboard page (every figure)", "dashboard page", "ms", 1),
            ("nightly roll-up after a day's events", "nightly roll-up", "s", 1),
        )
    ]
    results[-1]["size"] += f"; {large['nightly roll-up events']:,.0f} events on {large['nightly roll-up days touched']:.0f} days"
    results += [
        {
            "name": "full roll-up beside its floor",
            "figure": round(figures["full roll-up"], 2),
            "unit": "s",
            "baseline": round(figures["full roll-up floor"], 2),
            "baseline_name": "one INSERT … SELECT of the member-day aggregate",
            "size": f"{figures['total events']:,.0f} events",
        }
        for figures in (small, large)
    ]
    results.append(
        {
            "name": "adding generated events (set-based)",
            "figure": round(load_rate),
            "unit": "rows/s",
            "baseline": 0,
            "baseline_name": "none: the bulk-load ceiling into the partitions",
            "size": f"{small_label} → {large['total events']:,.0f}",
        }
    )
    results.append(
        {
            "name": "member-day roll-up rows per event",
            "figure": round(large["member-days per event"], 3),
            "unit": "rows",
            "baseline": round(small["member-days per event"], 3),
            "baseline_name": f"same at {small_label}: more events per member fall on days already counted",
            "size": large_label,
        }
    )
    results += [
        {"name": name, "figure": round(value, 2), "unit": "bytes/row", "baseline": 0, "baseline_name": "none", "size": large_label}
        for name, value in storage.items()
    ]
    return results
