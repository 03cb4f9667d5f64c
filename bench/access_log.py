"""Access-log writes into the monthly-partitioned table against the same writes into a plain copy of it.

Every staff view of a member's details and every export writes one access-log row, so the partitioned table must take
single-row inserts as fast as the plain one did. The baseline is a plain table made in this run with the same columns,
checks and indexes and a primary key on ``id`` alone (the table before ``core.0007``). Each round inserts the same rows,
one INSERT each, into both (the rounds alternate which goes first); both tables must hold the same rows after every
round; medians are reported. A second pair times a one-day count over two years of rows: on the partitioned table it
reads one month's partition (pruning), on the plain one the whole ``at`` index range.
"""

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction

from apps.core.partitions import partitions_maintain

PARTITIONED, PLAIN = "core_accesslogentry", "bench_accesslog_plain"
SIZES = {"quick": 20_000, "full": 200_000}
HISTORY = {"quick": 200_000, "full": 2_000_000}
ROUNDS = 5
COLUMNS = "username, action, object_type, object_id, row_count, detail, object_ids, ip, user_agent, at"


def _plain_copy() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PLAIN}")
        cursor.execute(f"CREATE TABLE {PLAIN} (LIKE {PARTITIONED} INCLUDING ALL EXCLUDING INDEXES)")
        cursor.execute(f"ALTER TABLE {PLAIN} ADD PRIMARY KEY (id)")
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary", [PARTITIONED]
        )
        for (definition,) in cursor.fetchall():
            name = definition.split()[2]
            cursor.execute(
                definition.replace(f" {name} ", f" bench_{name} ", 1).replace(f" ON ONLY public.{PARTITIONED} ", f" ON public.{PLAIN} ", 1)
            )


def _rows(count: int, start: datetime) -> list[tuple]:
    return [
        ("bench", "view_member_detail", "members.member", str(n % 5000), None, "", "", "10.0.0.1", "bench", start + timedelta(seconds=n))
        for n in range(count)
    ]


def _insert(table: str, rows: list[tuple]) -> float:
    placeholders = ", ".join(["%s"] * len(rows[0]))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({COLUMNS}) VALUES ({placeholders})", rows)
    return time.perf_counter() - started


def _digest(table: str) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), md5(string_agg(object_id || '@' || at, ',' ORDER BY at, object_id)) FROM {table}")
        return cursor.fetchone()


def _truncate() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {PARTITIONED}, {PLAIN}")


def _history(count: int, now: datetime) -> None:
    """Two years of rows in both tables, for the one-day count."""
    with connection.cursor() as cursor:
        for table in (PARTITIONED, PLAIN):
            cursor.execute(
                f"""INSERT INTO {table} ({COLUMNS})
                    SELECT 'bench', 'export', 'members.member', (n %% 5000)::text, 1, '', '', NULL, 'bench',
                           %s - (n * (730.0 / %s)) * interval '1 day'
                    FROM generate_series(1, %s) n""",
                [now, count, count],
            )
            cursor.execute(f"ANALYZE {table}")


def _count_day(table: str, day: datetime) -> tuple[float, int]:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE at >= %s AND at < %s", [day, day + timedelta(days=1)])
        found = cursor.fetchone()[0]
    return time.perf_counter() - started, found


def run(size: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    partitions_maintain(now=now)
    _plain_copy()
    rows = _rows(SIZES[size], now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    figures: dict[str, list[float]] = {PARTITIONED: [], PLAIN: []}
    try:
        for number in range(ROUNDS):
            _truncate()
            for table in (PARTITIONED, PLAIN) if number % 2 == 0 else (PLAIN, PARTITIONED):
                figures[table].append(len(rows) / _insert(table, rows))
            if _digest(PARTITIONED) != _digest(PLAIN):
                raise RuntimeError("the partitioned and the plain access log did not receive the same rows")
        _truncate()
        with connection.cursor() as cursor:
            # Partitions for the two years of history, as the conversion would have made them.
            cursor.execute(
                "SELECT count(*) FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 month') m, "
                "LATERAL userops_partitions_maintain(%s::regclass, 0, NULL, m)",
                [now - timedelta(days=735), now, PARTITIONED],
            )
        _history(HISTORY[size], now)
        day = (now - timedelta(days=200)).replace(hour=0, minute=0, second=0, microsecond=0)
        reads: dict[str, list[float]] = {PARTITIONED: [], PLAIN: []}
        counts = {}
        for number in range(ROUNDS * 4):
            for table in (PARTITIONED, PLAIN) if number % 2 == 0 else (PLAIN, PARTITIONED):
                seconds, counts[table] = _count_day(table, day)
                reads[table].append(seconds * 1000)
        if counts[PARTITIONED] != counts[PLAIN]:
            raise RuntimeError(f"the one-day counts differ: {counts}")
    finally:
        _truncate()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {PLAIN}")
    return [
        {
            "name": "access log: single-row inserts, partitioned",
            "figure": round(statistics.median(figures[PARTITIONED]), 1),
            "unit": "rows/s",
            "baseline": round(statistics.median(figures[PLAIN]), 1),
            "baseline_name": f"the same inserts into a plain copy ({len(rows)} rows a round, {ROUNDS} alternating rounds, median)",
            "size": size,
        },
        {
            "name": "access log: one day's count among two years, partitioned",
            "figure": round(statistics.median(reads[PARTITIONED]), 2),
            "unit": "ms",
            "baseline": round(statistics.median(reads[PLAIN]), 2),
            "baseline_name": f"the same count on a plain copy ({HISTORY[size]} rows, {counts[PLAIN]} that day, "
            f"{ROUNDS * 4} alternating reads, median)",
            "size": size,
        },
    ]
