"""Benefit redemption (核销) over HTTP — key auth, Idempotency-Key, grant row lock, state change, redemption row —
beside the same minimal Django view doing one INSERT, both served by the same gunicorn."""

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.benefits.models import Benefit, BenefitKind, Grant, GrantSource
from apps.core.models import ApiScope
from apps.core.services import api_client_create
from apps.members.models import Member
from bench.data import ensure_members
from bench.load import against_minimal_view

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
    run_id = uuid.uuid4().hex[:8]

    def redeem(client: Any, index: int) -> Any:
        return client.post(
            "/api/v1/grants/redeem/",
            json={"code": codes[index], "channel": "pos", "order_ref": f"POS-{index}"},
            headers={"X-Api-Key": key, "Idempotency-Key": f"{run_id}-{index}"},
        )

    return against_minimal_view("benefit redemption", redeem, total=total)
