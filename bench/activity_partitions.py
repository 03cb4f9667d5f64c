"""Activity events in monthly partitions against the same events in one plain table, in the same run.

The plain side is the table as it was before ``analytics.0008``: the same columns, checks and indexes, a primary key on
``id`` alone. Both live in the benchmark database at once and swap names between sides (a catalogue rename), so the
product's own code — the ingest service and the roll-up job — runs unchanged against each. Rounds alternate which side
goes first; medians are reported; both sides must end every round with the same rows.

- **Ingestion**: batches of 1,000 events (ten behaviour kinds, no earning rules) through ``activity_ingest_batch``,
  the key table emptied before each side.
- **Roll-up after 1,000 new events on the last two days**: each side holds the same year of events and a full
  roll-up of them, then gets the same 1,000 new events and runs the hourly job (``rollup_run``), which is timed.
"""

import random
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.analytics.models import ActivityEventKey, DailyMemberActivity
from apps.analytics.services import activity_ingest_batch, rollup_run
from apps.core.models import ApiClient, ApiScope
from apps.core.partitions import is_partitioned, partitions_maintain
from apps.core.services import api_client_create
from apps.members.models import Member
from bench.data import ensure_members

EVENTS, PLAIN, SWAP = "analytics_activityevent", "bench_activity_plain", "bench_activity_swap"
SIZES = {"quick": (10_000, 100_000, 5_000), "full": (100_000, 2_000_000, 100_000)}  # ingested per side, history, members
BATCH = 1_000
ROUNDS = 5
ROLLUP_ROUNDS = 3
CLIENT = "bench activity partitions"
KINDS = ["sign_in", "community_post", "share", "service_visit", "app_open", "login", "like_received", "event_attendance"]
ROLLUP_TABLES = ["analytics_dailymemberactivity", "analytics_dailymetric", "analytics_periodmetric", "analytics_cohortactivity"]


def _plain_copy() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PLAIN}")
        cursor.execute(f"CREATE TABLE {PLAIN} (LIKE {EVENTS} INCLUDING ALL EXCLUDING INDEXES)")
        cursor.execute(f"ALTER TABLE {PLAIN} ADD PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {PLAIN} ADD FOREIGN KEY (member_id) REFERENCES members_member (id) DEFERRABLE INITIALLY DEFERRED")
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary", [EVENTS]
        )
        for (definition,) in cursor.fetchall():
            name = definition.split()[2]
            cursor.execute(
                definition.replace(f" {name} ", f" bench_{name} ", 1).replace(f" ON ONLY public.{EVENTS} ", f" ON public.{PLAIN} ", 1)
            )


def _use(side: str) -> None:
    """Give ``side``'s table the events table's name."""
    if (side == "partitioned") == is_partitioned(EVENTS):
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {EVENTS} RENAME TO {SWAP}")
        cursor.execute(f"ALTER TABLE {PLAIN} RENAME TO {EVENTS}")
        cursor.execute(f"ALTER TABLE {SWAP} RENAME TO {PLAIN}")


def _empty(*, rollups: bool) -> None:
    tables = [EVENTS, ActivityEventKey._meta.db_table] + ([*ROLLUP_TABLES, "analytics_rollupstate"] if rollups else [])
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")


def _digest(columns: str, table: str) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), md5(string_agg({columns}, ',' ORDER BY {columns})) FROM {table}")
        return cursor.fetchone()


def _batches(count: int, member_ids: list[int]) -> list[list[dict[str, Any]]]:
    rng = random.Random(7)
    now = timezone.now()
    events = [
        {
            "event_id": f"ingest-{n}",
            "member_id": rng.choice(member_ids),
            "kind": rng.choice(KINDS),
            "occurred_at": (now - timedelta(minutes=rng.randint(10, 60 * 24 * 3))).isoformat(),
            "channel": rng.choice(["app", "mini_program", "store"]),
        }
        for n in range(count)
    ]
    return [events[start : start + BATCH] for start in range(0, count, BATCH)]


def _ingest(client: Any, batches: list[list[dict[str, Any]]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        activity_ingest_batch(items=batch, client=client)
    return sum(len(batch) for batch in batches) / (time.perf_counter() - started)


def _history(count: int, low: int, high: int, anchor: datetime) -> None:
    """A year of events (recorded long ago) and a full roll-up of them: the same on each side."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {EVENTS} (member_id, kind, occurred_at, recorded_at, source, event_id, order_ref, channel)
                SELECT %s + (n * 7919) %% (%s - %s + 1), (ARRAY['sign_in','share','login','app_open'])[1 + n %% 4],
                       %s::timestamptz - interval '3 days' - (n %% 362) * interval '1 day' - (n %% 1440) * interval '1 minute',
                       %s::timestamptz - interval '3 days', 'history', 'h-' || n, '', 'app'
                FROM generate_series(1, %s) n""",
            [low, high, low, anchor, anchor, count],
        )
        cursor.execute(f"ANALYZE {EVENTS}")
    rollup_run(full=True, now=timezone.now() - timedelta(minutes=30))


def _new_events(low: int, high: int, anchor: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {EVENTS} (member_id, kind, occurred_at, recorded_at, source, event_id, order_ref, channel)
                SELECT %s + (n * 104729) %% (%s - %s + 1), 'app_open', %s::timestamptz - (n %% 2880) * interval '1 minute',
                       now(), 'new', 'n-' || n, '', 'app'
                FROM generate_series(1, 1000) n""",
            [low, high, low, anchor],
        )


def run(size: str) -> list[dict[str, Any]]:
    ingested, history, members = SIZES[size]
    ensure_members(members)
    member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:members])
    low, high = member_ids[0], member_ids[-1]
    client = ApiClient.objects.filter(name=CLIENT).first() or api_client_create(name=CLIENT, scopes=[ApiScope.ACTIVITY_WRITE])[0]
    _use("partitioned")
    partitions_maintain()
    with connection.cursor() as cursor:
        # The months the year of history falls in, as the conversion of a populated table makes them.
        cursor.execute(
            "SELECT count(*) FROM generate_series(%s::timestamptz, now(), interval '1 month') m, "
            "LATERAL userops_partitions_maintain(%s::regclass, 0, NULL, m)",
            [timezone.now() - timedelta(days=400), EVENTS],
        )
    _plain_copy()
    batches = _batches(ingested, member_ids)
    # One instant both sides' events are placed from, so they fall on the same local days.
    anchor = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    rates: dict[str, list[float]] = {"partitioned": [], "plain": []}
    rollups: dict[str, list[float]] = {"partitioned": [], "plain": []}
    outcome: dict[str, tuple] = {}
    try:
        for number in range(ROUNDS):
            for side in ("partitioned", "plain") if number % 2 == 0 else ("plain", "partitioned"):
                _use(side)
                _empty(rollups=False)
                rates[side].append(_ingest(client, batches))
                outcome[side] = _digest("source || event_id || member_id || kind || occurred_at", EVENTS)
            if outcome["partitioned"] != outcome["plain"]:
                raise RuntimeError(f"the two sides stored different events: {outcome}")
        for number in range(ROLLUP_ROUNDS):
            for side in ("partitioned", "plain") if number % 2 == 0 else ("plain", "partitioned"):
                _use(side)
                _empty(rollups=True)
                _history(history, low, high, anchor)
                _new_events(low, high, anchor)
                started = time.perf_counter()
                with transaction.atomic():
                    rollup_run()
                rollups[side].append(time.perf_counter() - started)
                outcome[side] = _digest("day || ':' || member_id || ':' || events", DailyMemberActivity._meta.db_table)
            if outcome["partitioned"] != outcome["plain"]:
                raise RuntimeError(f"the two sides rolled up differently: {outcome}")
    finally:
        _use("partitioned")
        _empty(rollups=True)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {PLAIN}")
    return [
        {
            "name": "activity ingest into monthly partitions",
            "figure": round(statistics.median(rates["partitioned"]), 1),
            "unit": "events/s",
            "baseline": round(statistics.median(rates["plain"]), 1),
            "baseline_name": f"the same batches into one plain table ({ingested} events a side, {ROUNDS} alternating rounds, median)",
            "size": size,
        },
        {
            "name": "roll-up after 1,000 new events (last two days), partitions",
            "figure": round(statistics.median(rollups["partitioned"]), 3),
            "unit": "s",
            "baseline": round(statistics.median(rollups["plain"]), 3),
            "baseline_name": f"the same job on one plain table ({history} events over a year, {ROLLUP_ROUNDS} alternating rounds, median)",
            "size": size,
        },
    ]
