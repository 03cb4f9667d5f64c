"""A campaign run granting a benefit and awarding points to a whole segment (chunked, exactly-once,
frequency cap and budget checked; a grant with its code, and ledger + lot + balance per member), beside the
baseline of ONE hand-written INSERT … SELECT statement doing the same writes (action rows, grants, ledger
entries, lots, balances) for the same members.

Run and baseline alternate over ``ROUNDS`` rounds (which goes first alternates too) and the medians are
reported; after each, the rows it wrote are counted, and the two must have written the same.
"""

import json
import statistics
import time
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings

from apps.benefits.models import Benefit, BenefitCategory, BenefitKind
from apps.campaigns import services
from apps.campaigns.models import Campaign, CampaignRun, Segment
from apps.core.reasons import Reason, reason_fields, translated_param
from bench.data import ensure_members

SIZES = {"quick": 20_000, "full": 1_000_000}
# A full-size pair takes most of an hour on the shared machine, so the full size alternates two rounds.
ROUNDS = {"quick": 3, "full": 2}
POINTS = 10


def _frozen_segment(count: int) -> Segment:
    """A snapshot of the first ``count`` members, made in SQL."""
    segment = Segment.objects.create(name=f"bench-{uuid.uuid4().hex[:8]}", frozen_count=count)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaigns_segmentmember (segment_id, member_id) SELECT %s, id FROM members_member ORDER BY id LIMIT %s",
            [segment.pk, count],
        )
    Segment.objects.filter(pk=segment.pk).update(frozen_at=segment.created_at)
    segment.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_segmentmember")
    return segment


def _campaign_run(segment: Segment, benefit: Benefit) -> tuple[float, CampaignRun]:
    campaign = Campaign.objects.create(
        name=f"{segment.name}-run-{uuid.uuid4().hex[:8]}", segment=segment, points_amount=POINTS, benefit=benefit
    )
    # The run is executed here, in-process, as the worker would; what the launch queues goes to the bench's
    # in-memory broker, where nothing takes it.
    run = services.campaign_launch(campaign=campaign)
    started = time.perf_counter()
    run = services.campaign_run_execute(run_id=run.pk)
    return time.perf_counter() - started, run


BASELINE_SQL = """
WITH members AS (
    SELECT s.member_id FROM campaigns_segmentmember s JOIN members_member m ON m.id = s.member_id
    WHERE s.segment_id = %(segment)s AND m.status = 'active'
), actions AS (
    INSERT INTO campaigns_campaignaction (run_id, campaign_id, member_id, outcome, created_at)
    SELECT %(run)s, %(campaign)s, member_id, 'acted', now() FROM members
    ON CONFLICT (run_id, member_id) DO NOTHING RETURNING member_id
), grants AS (
    INSERT INTO benefits_grant (benefit_id, member_id, code, state, source, source_ref, valid_from, valid_until, issued_at, cost,
                                revoke_reason)
    SELECT %(benefit)s, member_id, upper(substr(md5(random()::text || member_id::text), 1, 16)), 'issued', 'campaign',
           %(source_ref)s, now(), now() + interval '30 days', now(), %(unit_cost)s, ''
    FROM actions RETURNING cost
), counted AS (
    UPDATE benefits_benefit SET issued_count = issued_count + (SELECT count(*) FROM grants),
                                cost_committed = cost_committed + (SELECT coalesce(sum(cost), 0) FROM grants)
    WHERE id = %(benefit)s
), credited AS (
    UPDATE members_pointsaccount a SET balance = a.balance + %(points)s, updated_at = now()
    FROM actions WHERE a.member_id = actions.member_id RETURNING a.id, a.balance
), entries AS (
    INSERT INTO members_pointsentry (account_id, kind, amount, balance_after, reason, reason_code, reason_params, source_ref,
                                     idempotency_key, expires_at, created_at)
    SELECT id, 'earn', %(points)s, balance, %(reason)s, %(reason_code)s, %(reason_params)s::jsonb, %(source_ref)s, '',
           now() + interval '365 days', now()
    FROM credited
    RETURNING id, account_id
)
INSERT INTO members_pointslot (account_id, entry_id, amount, remaining, expires_at)
SELECT account_id, id, %(points)s, %(points)s, now() + interval '365 days' FROM entries
"""


def _baseline(segment: Segment, benefit: Benefit) -> tuple[float, CampaignRun]:
    campaign = Campaign.objects.create(
        name=f"{segment.name}-baseline-{uuid.uuid4().hex[:8]}", segment=segment, points_amount=POINTS, benefit=benefit
    )
    run = CampaignRun.objects.create(campaign=campaign)
    started = time.perf_counter()
    reason = reason_fields(Reason("campaign", {"name": translated_param(campaign, "name")}))
    with transaction.atomic(), connection.cursor() as cursor:
        params = {"segment": segment.pk, "run": run.pk, "campaign": campaign.pk, "points": POINTS, "benefit": benefit.pk}
        cursor.execute(
            BASELINE_SQL,
            {
                **params,
                "unit_cost": benefit.unit_cost,
                "source_ref": f"campaign-run:{run.pk}",
                **reason,
                "reason_params": json.dumps(reason["reason_params"]),
            },
        )
    return time.perf_counter() - started, run


WRITTEN_SQL = """
SELECT (SELECT count(*) FROM campaigns_campaignaction WHERE run_id = %(run)s AND outcome = 'acted'),
       (SELECT count(*) FROM benefits_grant WHERE source_ref = %(source_ref)s),
       (SELECT count(*) FROM members_pointsentry WHERE source_ref = %(source_ref)s),
       (SELECT count(*) FROM members_pointslot l JOIN members_pointsentry e ON e.id = l.entry_id WHERE e.source_ref = %(source_ref)s),
       (SELECT coalesce(sum(amount), 0) FROM members_pointsentry WHERE source_ref = %(source_ref)s)
"""


def _total_balance() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(balance), 0) FROM members_pointsaccount")
        return cursor.fetchone()[0]


# Autovacuum may be off (it is on the shared bench server): each side starts from tables vacuumed and analysed
# after the other's writes, so neither inherits the other's dead rows or statistics that predate them.
WRITTEN_TABLES = [
    "campaigns_campaignaction",
    "benefits_grant",
    "benefits_benefit",
    "members_pointsentry",
    "members_pointslot",
    "members_pointsaccount",
]


def _vacuum_written_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(WRITTEN_TABLES)}")


def _measured(work: Any, segment: Segment, benefit: Benefit) -> tuple[float, dict[str, int]]:
    """Time ``work`` and count what it wrote: action rows, grants, ledger entries, lots, points, balance change."""
    _vacuum_written_tables()
    before = _total_balance()
    seconds, run = work(segment, benefit)
    with connection.cursor() as cursor:
        cursor.execute(WRITTEN_SQL, {"run": run.pk, "source_ref": f"campaign-run:{run.pk}"})
        actions, grants, entries, lots, points = cursor.fetchone()
    written = {"actions": actions, "grants": grants, "entries": entries, "lots": lots, "points": points}
    return seconds, {**written, "balance_change": _total_balance() - before}


def run(size: str) -> list[dict[str, Any]]:
    count = SIZES[size]
    ensure_members(count)
    segment = _frozen_segment(count)
    benefit = Benefit.objects.create(
        name=f"{segment.name} voucher",
        kind=BenefitKind.FIXED_COUPON,
        category=BenefitCategory.ECONOMIC,
        face_value=Decimal("50.00"),
        unit_cost=Decimal("30.00"),
        validity_days=30,
    )
    runs: list[float] = []
    baselines: list[float] = []
    # Every round acts on the same members: a cap this high is checked on each member but never reached.
    with override_settings(USEROPS_CAMPAIGNS={**settings.USEROPS_CAMPAIGNS, "FREQUENCY_CAP": 1_000}):
        for round_number in range(ROUNDS[size]):
            order = [(_campaign_run, runs), (_baseline, baselines)]
            written = []
            for work, figures in order if round_number % 2 == 0 else reversed(order):
                seconds, rows = _measured(work, segment, benefit)
                figures.append(seconds)
                written.append(rows)
                # Each side as it ends: a full-size round is long, and a side measured is worth keeping.
                print(f"  round {round_number + 1}: {work.__name__.strip('_')} {seconds:.2f} s, wrote {rows}", flush=True)
            if written[0] != written[1]:
                raise AssertionError(f"the run and the baseline wrote different rows: {written}")
            print(f"  round {round_number + 1}: run {runs[-1]:.2f} s, baseline {baselines[-1]:.2f} s, each wrote {written[0]}", flush=True)
    return [
        {
            "name": "campaign run granting a benefit + points",
            "figure": round(statistics.median(runs), 2),
            "unit": "s/run",
            "baseline": round(statistics.median(baselines), 2),
            "baseline_name": "one INSERT … SELECT doing the same writes",
            "size": (
                f"{count:,} members, each granted and awarded, chunks of {settings.USEROPS_CAMPAIGNS['CHUNK_SIZE']:,}, "
                f"median of {ROUNDS[size]} alternating rounds"
            ),
        }
    ]
