"""A large synthetic programme for benchmarks and capacity tests, made set-based in PostgreSQL."""

import time
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from apps.analytics import services
from apps.analytics.models import ActivityEvent
from apps.core.partitions import MAX_MONTHS_AHEAD, indexes_built_after_load, is_partitioned
from apps.members.models import Tier

CHUNK = 1_000_000
EVENTS = ActivityEvent._meta.db_table
YEAR = timedelta(days=365)


def add_members(count: int) -> int:
    """Insert ``count`` members (and their points accounts) with INSERT … SELECT generate_series; joined over two years."""
    tier_ids = list(Tier.objects.order_by("rank").values_list("pk", flat=True))
    if not tier_ids:
        raise CommandError("No tiers: run migrate first.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM members_member")
        start = cursor.fetchone()[0] + 1
        cursor.execute(
            """
            INSERT INTO members_member (external_id, name, phone, email, gender, city, source_channel, status, status_reason,
                                        joined_at, tier_id, tier_achieved_at, created_at, updated_at)
            SELECT 'GEN' || i, 'Member ' || i, '+86131' || lpad(i::text, 8, '0'), '', 'unknown',
                   (ARRAY['上海','北京','深圳','广州','杭州','成都','南京','武汉'])[1 + i %% 8],
                   (ARRAY['app','mini_program','store','dealer','event','referral'])[1 + (i / 7) %% 6], 'active', '',
                   now() - ((i * 7919) %% 730) * interval '1 day' - ((i * 104729) %% 86400) * interval '1 second',
                   (%s::bigint[])[1 + (i %% 10 = 0)::int + (i %% 50 = 0)::int + (i %% 200 = 0)::int],
                   now(), now() - ((i * 7919) %% 730) * interval '1 day', now()
            FROM generate_series(%s::bigint, %s::bigint) AS i
            """,
            [tier_ids, start, start + count - 1],
        )
        added = cursor.rowcount
        cursor.execute(
            """
            INSERT INTO members_pointsaccount (member_id, balance, updated_at)
            SELECT m.id, 0, now() FROM members_member m
            LEFT JOIN members_pointsaccount a ON a.member_id = m.id WHERE a.id IS NULL
            """
        )
        cursor.execute("ANALYZE members_member")
    return added


KINDS = """
    CASE WHEN x.r < 0.12 THEN 'purchase' WHEN x.r < 0.14 THEN 'survey' WHEN x.r < 0.15 THEN 'benefit_redemption'
         WHEN x.r < 0.155 THEN 'event_attendance' WHEN x.r < 0.16 THEN 'referral' WHEN x.r < 0.5 THEN 'login'
         ELSE 'app_open' END"""


def _ensure_month_partitions(cursor: CursorWrapper, within: timedelta) -> None:
    """Give every month of the span its own partition before the events arrive: rows of a month without one would land
    in the DEFAULT partition, which every query reads and the beat job would later have to move out row by row."""
    if not is_partitioned(EVENTS):
        return
    months = within.days // 28 + 2 + settings.USEROPS_PARTITIONS["MONTHS_AHEAD"]
    cursor.execute(
        "SELECT count(*) FROM userops_partitions_maintain(%s::regclass, %s, NULL, now() - %s)",
        [EVENTS, min(months, MAX_MONTHS_AHEAD), within],
    )


def add_events(count: int, *, run: str, within: timedelta = YEAR, log: Any = None) -> int:
    """Insert ``count`` activity events, a million per statement: members drawn with a skew (a few are very active),
    each event within ``within`` before now and after the member joined, recorded up to three hours later (never after
    now); 12 % purchases (¥20–2,000), 2 % survey answers. Each statement's rows go in time order, so the monthly
    partitions and their time indexes are filled a page after another rather than at random. Every random draw is a
    column of the numbered rows: a draw inside a lateral subquery over the member's columns alone is computed once per
    member (PostgreSQL memoizes the subquery), which put all of a member's events on a handful of instants.

    A load that at least doubles the table is one transaction that writes the rows first and builds the indexes and
    checks the member key after (``indexes_built_after_load``): kept up row by row, the ``(member, occurred_at)``
    index takes every insert at a random page, which made a load of millions of events run for hours."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM members_member")
        low, high = cursor.fetchone()
        if low is None:
            raise CommandError("No members: add some with --members.")
        _ensure_month_partitions(cursor, within)
        cursor.execute(f"SELECT count(*) FROM {EVENTS}")  # noqa: S608
        bulk = count >= cursor.fetchone()[0]
    with transaction.atomic() if bulk else nullcontext(), connection.cursor() as cursor:
        if bulk:
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        with indexes_built_after_load(EVENTS) if bulk else nullcontext():
            added = _insert_events(cursor, count, run=run, within=within, low=low, high=high, log=log)
        cursor.execute("ANALYZE analytics_activityevent")
    return added


def _insert_events(cursor: CursorWrapper, count: int, *, run: str, within: timedelta, low: int, high: int, log: Any) -> int:
    added = 0
    for first in range(1, count + 1, CHUNK):
        last = min(first + CHUNK - 1, count)
        started = time.monotonic()
        with transaction.atomic():
            cursor.execute(
                f"""
                    INSERT INTO analytics_activityevent
                        (member_id, kind, occurred_at, recorded_at, source, event_id, amount, order_ref, channel, nps_score)
                    SELECT m.id, k.kind, t.at, LEAST(t.at + x.r * interval '3 hours', now()), 'generator', %s || '-' || x.g,
                           CASE WHEN k.kind = 'purchase' THEN round((20 + x.r2 * 1980)::numeric, 2) END,
                           CASE WHEN k.kind = 'purchase' THEN 'GEN-' || x.g ELSE '' END,
                           (ARRAY['app','mini_program','store','online'])[1 + (x.g %% 4)::int],
                           CASE WHEN k.kind = 'survey' THEN floor(x.r2 * 11)::int END
                    FROM (SELECT g, %s + floor((%s - %s + 1) * power(random(), 1.6))::bigint AS mid, random() AS r, random() AS r2,
                                 random() AS r3
                          FROM generate_series(%s::bigint, %s::bigint) AS g) x
                    JOIN members_member m ON m.id = x.mid
                    CROSS JOIN LATERAL (SELECT {KINDS} AS kind) k
                    CROSS JOIN LATERAL (SELECT GREATEST(m.joined_at, now() - %s) AS since) w
                    CROSS JOIN LATERAL (SELECT w.since + (now() - w.since) * x.r3 AS at) t
                    ORDER BY t.at
                    """,  # noqa: S608
                [run, low, high, low, first, last, within],
            )
            added += cursor.rowcount
        if log:
            log(f"  events {last:,} / {count:,} ({time.monotonic() - started:.1f}s)")
    return added


class Command(BaseCommand):
    help = "Add N members and M activity events in set-based SQL (PostgreSQL), then roll up and score RFM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=0)
        parser.add_argument("--events", type=int, default=0)
        parser.add_argument("--no-rollup", action="store_true", help="Skip the roll-up and RFM scoring.")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("generate_large_dataset needs PostgreSQL (set DATABASE_URL).")
        started = time.monotonic()
        if options["members"]:
            self.stdout.write(f"{add_members(options['members']):,} members added ({time.monotonic() - started:.1f}s)")
        if options["events"]:
            run = f"gen{int(time.time())}"
            added = add_events(options["events"], run=run, log=self.stdout.write)
            self.stdout.write(f"{added:,} events added ({time.monotonic() - started:.1f}s)")
        if not options["no_rollup"]:
            mark = time.monotonic()
            days = services.rollup_run(full=True).days
            self.stdout.write(f"{len(days)} days rolled up ({time.monotonic() - mark:.1f}s)")
            mark = time.monotonic()
            self.stdout.write(f"{services.rfm_score_members():,} members scored ({time.monotonic() - mark:.1f}s)")
