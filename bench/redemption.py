"""Benefit redemption (核销) over HTTP — key auth, Idempotency-Key, grant row lock, state change, redemption row —
beside the same minimal Django view doing one INSERT, both served by the same gunicorn."""

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.benefits.models import Benefit, BenefitKind, Grant, GrantSource
from apps.core.models import ApiScope
from apps.core.services import api_client_create
from apps.members.models import Member
from bench.data import ensure_members
from bench.load import hammer
from bench.server import gunicorn

SIZES = {"quick": 2_000, "full": 10_000}


def _grants(count: int) -> list[str]:
    ensure_members(count)
    benefit = Benefit.objects.create(
        name=f"bench voucher {uuid.uuid4().hex[:6]}",
        kind=BenefitKind.FIXED_COUPON,
        category="economic",
        face_value=Decimal(50),
        validity_days=30,
    )
    now = timezone.now()
    member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:count])
    grants = Grant.objects.bulk_create(
        [
            Grant(benefit=benefit, member_id=member_id, source=GrantSource.CAMPAIGN, valid_from=now, valid_until=now + timedelta(days=30))
            for member_id in member_ids
        ]
    )
    return [grant.code for grant in grants]


def run(size: str) -> list[dict[str, Any]]:
    total = SIZES[size]
    codes = _grants(total)
    _client, key = api_client_create(name=f"bench-pos-{uuid.uuid4().hex[:8]}", scopes=[ApiScope.BENEFITS_REDEEM])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_points_baseline "
            "(id bigserial PRIMARY KEY, member_id bigint, amount int, created_at timestamptz)"
        )
    run_id = uuid.uuid4().hex[:8]

    def redeem(client: Any, index: int) -> Any:
        return client.post(
            "/api/v1/grants/redeem/",
            json={"code": codes[index], "channel": "pos", "order_ref": f"POS-{index}"},
            headers={"X-Api-Key": key, "Idempotency-Key": f"{run_id}-{index}"},
        )

    def baseline(client: Any, index: int) -> Any:
        return client.post(f"/bench/baseline/points/{index}/")

    with gunicorn(workers=2) as base_url:
        hammer(base_url, baseline, total=200)
        base = hammer(base_url, baseline, total=total)
        real = hammer(base_url, redeem, total=total)
    if real.failures or base.failures:
        raise RuntimeError(f"benchmark requests failed: api={real.failures} baseline={base.failures}")
    shape = f"{total} requests, 8 clients"
    return [
        {
            "name": "benefit redemption over HTTP",
            "figure": round(real.per_second, 1),
            "unit": "requests/s",
            "baseline": round(base.per_second, 1),
            "baseline_name": "minimal view, one INSERT",
            "size": shape,
        },
        {
            "name": "benefit redemption over HTTP, p95 latency",
            "figure": round(real.p95_ms, 2),
            "unit": "ms",
            "baseline": round(base.p95_ms, 2),
            "baseline_name": "minimal view, one INSERT",
            "size": shape,
        },
    ]
