"""Benefit redemption (核销) over HTTP — the real API (key auth, Idempotency-Key, grant lock, checks, redemption row,
grant state) — beside its floor view (lock the grant, check it, insert the redemption, update the grant), both
served by the same gunicorn, each side redeeming grants of its own."""

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.benefits.models import Benefit, BenefitKind, Grant, GrantSource, Redemption
from apps.core.models import ApiScope
from apps.core.services import api_client_create
from apps.members.models import Member
from bench.data import ensure_members
from bench.load import WARM_UP, beside_floor

SIZES = {"quick": 2_000, "full": 10_000}


def _grants(count: int) -> list[str]:
    """``count`` issued grants of a new voucher, one per member."""
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
    api_codes, floor_codes = _grants(WARM_UP + total), _grants(WARM_UP + total)
    _client, key = api_client_create(name=f"bench-pos-{uuid.uuid4().hex[:8]}", scopes=[ApiScope.BENEFITS_REDEEM])
    run_id = uuid.uuid4().hex[:8]

    def body(codes: list[str], side: str, index: int) -> dict[str, Any]:
        return {"code": codes[index], "channel": "pos", "order_ref": f"{side}-{run_id}-{index}"}

    def redeem(client: Any, index: int) -> Any:
        return client.post(
            "/api/v1/grants/redeem/",
            json=body(api_codes, "api", index),
            headers={"X-Api-Key": key, "Idempotency-Key": f"{run_id}-{index}"},
        )

    def floor(client: Any, index: int) -> Any:
        return client.post("/bench/floor/grants/redeem/", json=body(floor_codes, "floor", index))

    def rows_written() -> tuple[int, int]:
        redemptions = Redemption.objects.all()
        return (
            redemptions.filter(order_ref__startswith=f"api-{run_id}-").count(),
            redemptions.filter(order_ref__startswith=f"floor-{run_id}-").count(),
        )

    return beside_floor("benefit redemption", api=redeem, floor=floor, rows_written=rows_written, total=total)
