"""The nightly lifecycle staging (``lifecycle_stages_compute``) of every member, beside a hand-written floor.

The staging gathers each member's behaviour once (a temporary table from the daily roll-ups), then runs one
``UPDATE … FROM`` per stage rule that also inserts the ``StageChange`` rows of the members it moved. The floor makes
the same writes in ONE statement: the behaviour, every member's target stage, the UPDATE of those whose stage changes
and the INSERT of their history, as one query. Both start from the same stages (the members' rows are put back before
every run); the rounds alternate which side goes first, the medians are reported, and both sides must leave the same
stages and the same history rows.

Data: members from ``bench.data``; per member one to three days of activity in the roll-ups, spread so that every
stage (new, growing, mature, dormant, churned, returned) has members.
"""

import statistics
import time
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.lifecycle.models import MemberStage
from apps.lifecycle.services import TARGET_STAGE_SQL, lifecycle_settings, lifecycle_stages_compute, staging_params
from bench.data import ensure_members

SIZES = {"quick": 20_000, "full": 1_000_000}
ROUNDS = 3
FLOOR_REASON = "bench floor"


def _generate(today: Any) -> None:
    """Roll-up rows: a last active day from today to 400 days ago, and for every fourth member a busy window."""
    with connection.cursor() as cursor:
        # Generated already for every member when the newest member has rows (each member gets at least one).
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM analytics_dailymemberactivity"
            " WHERE channel = 'bench' AND member_id = (SELECT max(id) FROM members_member))"
        )
        if cursor.fetchone()[0]:
            return
        cursor.execute(
            """
            INSERT INTO analytics_dailymemberactivity (day, member_id, tier_id, city, channel, events, purchases, revenue,
                redemptions, attendances, referrals, promoters, passives, detractors)
            SELECT %(today)s::date - ((m.id * 7919) %% 400 + step * 9)::int, m.id, m.tier_id, '', 'bench',
                   CASE WHEN m.id %% 4 = 0 THEN 12 ELSE 1 END, CASE WHEN m.id %% 4 = 0 THEN 1 ELSE 0 END, 0, 0, 0, 0, 0, 0, 0
            FROM members_member m CROSS JOIN generate_series(0, 2) AS step
            WHERE step <= m.id %% 3
            ON CONFLICT DO NOTHING
            """,
            {"today": today},
        )
        cursor.execute("ANALYZE analytics_dailymemberactivity")


def _reset() -> None:
    """Every member staged as it was before tonight: a mix of stages, a third of them dormant or churned."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE lifecycle_stagechange, lifecycle_memberstage")
        cursor.execute(
            """
            INSERT INTO lifecycle_memberstage (member_id, journey_stage, journey_stage_since, lifecycle_stage, lifecycle_stage_since)
            SELECT id, 'prospect', joined_at, (ARRAY['new', 'growing', 'dormant', 'mature', 'churned', 'growing'])[1 + id % 6],
                   now() - interval '50 days'
            FROM members_member WHERE status IN ('active', 'frozen')
            """
        )
        cursor.execute("ANALYZE lifecycle_memberstage")


def _floor(now: Any) -> None:
    params = staging_params(lifecycle_settings(), now)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH f AS (
                SELECT m.id AS member_id, m.joined_at,
                       GREATEST(a.last_day, (m.joined_at AT TIME ZONE %(time_zone)s)::date) AS last_day,
                       COALESCE(a.window_events, 0) AS window_events, COALESCE(a.window_purchases, 0) AS window_purchases
                FROM members_member m
                LEFT JOIN (
                    SELECT member_id, max(day) AS last_day,
                           sum(events) FILTER (WHERE day >= %(window_start)s) AS window_events,
                           sum(purchases) FILTER (WHERE day >= %(window_start)s) AS window_purchases
                    FROM analytics_dailymemberactivity WHERE day <= %(today)s GROUP BY member_id
                ) a ON a.member_id = m.id
                WHERE m.status = ANY(%(statuses)s)
            ),
            target AS (
                SELECT s.member_id, s.lifecycle_stage AS from_stage, {TARGET_STAGE_SQL} AS to_stage
                FROM lifecycle_memberstage s JOIN f ON f.member_id = s.member_id
            ),
            moved AS (
                UPDATE lifecycle_memberstage s SET lifecycle_stage = t.to_stage, lifecycle_stage_since = %(now)s
                FROM target t WHERE t.member_id = s.member_id AND t.to_stage <> t.from_stage
                RETURNING s.member_id, t.from_stage, t.to_stage
            )
            INSERT INTO lifecycle_stagechange (member_id, dimension, from_stage, to_stage, changed_at, reason)
            SELECT member_id, %(dimension)s, from_stage, to_stage, %(now)s, %(floor_reason)s FROM moved
            """,
            {**params, "floor_reason": FLOOR_REASON},
        )


def _outcome() -> tuple[list[tuple], list[tuple]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5(string_agg(member_id || ':' || lifecycle_stage, ',' ORDER BY member_id)) FROM lifecycle_memberstage")
        stages = cursor.fetchone()
        cursor.execute(
            "SELECT to_stage, count(*), md5(string_agg(member_id || from_stage, ',' ORDER BY member_id))"
            " FROM lifecycle_stagechange GROUP BY to_stage ORDER BY to_stage"
        )
        return [stages], cursor.fetchall()


def run(size: str) -> list[dict[str, Any]]:
    ensure_members(SIZES[size])
    now = timezone.now()
    _generate(timezone.localdate(now))
    figures: dict[str, list[float]] = {"staging": [], "floor": []}
    outcomes: dict[str, tuple] = {}
    for number in range(ROUNDS):
        for side in ("staging", "floor") if number % 2 == 0 else ("floor", "staging"):
            _reset()
            started = time.perf_counter()
            if side == "staging":
                lifecycle_stages_compute(now=now)
            else:
                _floor(now)
            figures[side].append(time.perf_counter() - started)
            outcomes[side] = _outcome()
    if outcomes["staging"] != outcomes["floor"]:
        raise RuntimeError(f"the staging and its floor did not make the same moves: {outcomes}")
    moves = {stage: count for stage, count, _digest in outcomes["staging"][1]}
    staged = MemberStage.objects.count()
    return [
        {
            "name": "lifecycle_stages_compute (a statement per rule)",
            "figure": round(statistics.median(figures["staging"]), 2),
            "unit": "s",
            "baseline": round(statistics.median(figures["floor"]), 2),
            "baseline_name": f"floor: one hand-written statement for every rule ({staged} members staged, {sum(moves.values())} moves "
            f"{moves}, {ROUNDS} alternating rounds, median; staging {[round(f, 2) for f in figures['staging']]} s, "
            f"floor {[round(f, 2) for f in figures['floor']]} s)",
            "size": size,
        }
    ]
