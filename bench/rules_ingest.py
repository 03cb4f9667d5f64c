"""Activity ingestion with 20 active earning rules (with caps) beside the same ingestion with the rules off.

Both sides call the ingest service (``activity_ingest_batch``) in-process with the same batches of 1,000 events (ten
behaviour kinds, the same members, times, channels and properties; only the event ids differ); the only difference is
whether the rules are on. Rounds alternate (rules on, rules off), each round ingests the same batches on each side, and
the median rate of the rounds is reported. Checked afterwards: both sides stored the same activity rows (their event ids
aside), every paid award has its ledger row naming the rule and the activity, and no award names an activity of the
rules-off side.
"""

import random
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.analytics.services import activity_ingest_batch
from apps.core.models import ApiScope
from apps.core.services import api_client_create
from apps.members.models import Member, PointsEntry, Tier
from apps.rules.models import AwardStatus, EarningRule, RuleAward, RuleStatus
from apps.rules.services import rules_changed
from bench.data import ensure_members

SIZES = {"quick": (10_000, 10_000), "full": (100_000, 100_000)}  # activities per side, members
BATCH = 1_000
ROUNDS = 10
KINDS = [
    "sign_in",
    "community_post",
    "community_comment",
    "like_received",
    "share",
    "content_featured",
    "test_drive_booked",
    "service_visit",
    "event_attendance",
    "profile_completed",
]


def _rules(tag: str) -> list[EarningRule]:
    """20 rules, two per kind: one with a daily count cap, one with weekly points and lifetime caps, conditions on
    properties or tiers on some, a budget on some, growth value on half."""
    gold = list(Tier.objects.filter(rank__gte=2))
    rules = []
    for index, kind in enumerate(KINDS):
        rules.append(
            EarningRule.objects.create(
                name=f"{tag} {kind} daily",
                kind=kind,
                status=RuleStatus.DRAFT,
                priority=10,
                points=5 + index,
                growth=1 if index % 2 else 0,
                cap_day_count=2,
                property_conditions=[{"property": "score", "op": "gte", "value": 20}] if index % 3 == 0 else [],
            )
        )
        second = EarningRule.objects.create(
            name=f"{tag} {kind} bonus",
            kind=kind,
            status=RuleStatus.DRAFT,
            priority=20,
            points=20,
            growth=2 if index % 2 == 0 else 0,
            cap_week_points=60,
            cap_lifetime_count=5,
            budget_points=10_000_000 if index % 4 == 0 else None,
            channels=["app", "mini_program"] if index % 5 == 0 else [],
        )
        if index % 3 == 1:
            second.tiers.set(gold + list(Tier.objects.filter(rank=1)))
        rules.append(second)
    return rules


def _switch(rules: list[EarningRule], status: str) -> None:
    EarningRule.objects.filter(pk__in=[rule.pk for rule in rules]).update(status=status)
    rules_changed()


def _batch(rng: random.Random, member_ids: list[int], prefix: str, number: int) -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {
            "event_id": f"{prefix}-{number}-{i}",
            "member_id": rng.choice(member_ids),
            "kind": rng.choice(KINDS),
            "occurred_at": (now - timedelta(minutes=rng.randint(10, 60 * 24 * 3))).isoformat(),
            "channel": rng.choice(["app", "mini_program", "store"]),
            "properties": {"score": rng.randint(0, 100), "topic": rng.choice(["car", "trip", "charging"])},
        }
        for i in range(BATCH)
    ]


def _same_rows(run_id: str) -> bool:
    """Both sides stored the same activity rows, their event ids aside (compared as multisets, in SQL)."""
    columns = "member_id, kind, occurred_at, channel, properties::text"
    side = f"SELECT {columns} FROM {ActivityEvent._meta.db_table} WHERE event_id LIKE %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM ({side} EXCEPT ALL {side}) AS a) + (SELECT count(*) FROM ({side} EXCEPT ALL {side}) AS b)",
            [f"{run_id}-on-%", f"{run_id}-off-%", f"{run_id}-off-%", f"{run_id}-on-%"],
        )
        return cursor.fetchone()[0] == 0


def _analyze_written_tables() -> None:
    """Autovacuum may be off: without statistics the checks' joins over the activity partitions plan as nested loops."""
    with connection.cursor() as cursor:
        for model in (ActivityEvent, RuleAward, PointsEntry):
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def _paid_awards_without_ledger_row(paid: Any) -> bool:
    ledger_row = PointsEntry.objects.filter(
        source_ref=Concat(
            Value("rule:"), Cast(OuterRef("rule_id"), CharField()), Value(":activity:"), Cast(OuterRef("activity_id"), CharField())
        )
    )
    return paid.filter(~Exists(ledger_row)).exists()


def run(size: str) -> list[dict[str, Any]]:
    activities, members = SIZES[size]
    ensure_members(members)
    member_ids = list(Member.objects.filter(status="active").order_by("pk").values_list("pk", flat=True)[:members])
    client, _key = api_client_create(name=f"bench-rules-{uuid.uuid4().hex[:8]}", scopes=[ApiScope.ACTIVITY_WRITE])
    run_id = uuid.uuid4().hex[:8]
    rules = _rules(f"bench-{run_id}")
    rng = random.Random(2026)
    batches_per_round = activities // BATCH // ROUNDS
    rates: dict[str, list[float]] = {"on": [], "off": []}
    for round_number in range(ROUNDS):
        # The same events on both sides (members, kinds, times, channels, properties), under each side's own event ids.
        shapes = [_batch(rng, member_ids, run_id, round_number * batches_per_round + b) for b in range(batches_per_round)]
        for side in ("on", "off") if round_number % 2 == 0 else ("off", "on"):
            _switch(rules, RuleStatus.ACTIVE if side == "on" else RuleStatus.PAUSED)
            batches = [[{**item, "event_id": f"{run_id}-{side}-{item['event_id']}"} for item in items] for items in shapes]
            started = time.perf_counter()
            for items in batches:
                result = activity_ingest_batch(items=items, client=client)
                assert result.created + result.duplicates == BATCH, result.as_dict()
            rates[side].append(batches_per_round * BATCH / (time.perf_counter() - started))
        # Each round as it is measured: on this shared machine a full-size run can outlast the time it was given.
        print(f"  round {round_number + 1}: rules on {rates['on'][-1]:,.0f}/s, off {rates['off'][-1]:,.0f}/s", flush=True)
    _switch(rules, RuleStatus.ENDED)
    _analyze_written_tables()
    stored_on = ActivityEvent.objects.filter(event_id__startswith=f"{run_id}-on-").count()
    stored_off = ActivityEvent.objects.filter(event_id__startswith=f"{run_id}-off-").count()
    assert stored_on == stored_off == activities, (stored_on, stored_off)
    assert _same_rows(run_id), "the two sides stored different activity rows"
    awards = RuleAward.objects.filter(rule__in=rules)
    paid = awards.filter(status=AwardStatus.PAID, points__gt=0)
    assert paid.exists() and not _paid_awards_without_ledger_row(paid), "a paid award has no ledger row"
    assert not awards.filter(activity__event_id__startswith=f"{run_id}-off-").exists()
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    round_ratio = statistics.median(r_on / r_off for r_on, r_off in zip(rates["on"], rates["off"], strict=True))
    print(
        f"  rules ingest: {awards.count():,} awards on {activities:,} activities; rules on {on:,.0f}/s, off {off:,.0f}/s "
        f"({on / off:.0%}; median round {round_ratio:.0%})\n"
        f"  rounds on {[round(r) for r in rates['on']]} off {[round(r) for r in rates['off']]}",
        flush=True,
    )
    return [
        {
            "name": "activity ingest with 20 earning rules",
            "figure": round(on, 2),
            "unit": "activities/s",
            "baseline": round(off, 2),
            "baseline_name": "same ingestion, rules off",
            "size": size,
        }
    ]
