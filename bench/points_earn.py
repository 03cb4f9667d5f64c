"""Points earn over HTTP (the real API: key auth, Idempotency-Key, row lock, ledger + lot + balance)
beside a minimal Django view doing one INSERT, both served by the same gunicorn."""

import uuid
from typing import Any

from django.db import connection

from apps.core.models import ApiScope
from apps.core.services import api_client_create
from apps.members.models import Member
from bench.data import ensure_members
from bench.load import hammer
from bench.server import gunicorn

SIZES = {"quick": 2_000, "full": 10_000}
MEMBERS = 1_000


def run(size: str) -> list[dict[str, Any]]:
    total = SIZES[size]
    ensure_members(MEMBERS)
    member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:MEMBERS])
    _client, key = api_client_create(name=f"bench-{uuid.uuid4().hex[:8]}", scopes=[ApiScope.POINTS_WRITE])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_points_baseline "
            "(id bigserial PRIMARY KEY, member_id bigint, amount int, created_at timestamptz)"
        )
    run_id = uuid.uuid4().hex[:8]

    def earn(client: Any, index: int) -> Any:
        return client.post(
            f"/api/v1/members/{member_ids[index % len(member_ids)]}/points/earn/",
            json={"amount": 10, "reason": "Benchmark purchase", "source_ref": f"bench-{index}"},
            headers={"X-Api-Key": key, "Idempotency-Key": f"{run_id}-{index}"},
        )

    def baseline(client: Any, index: int) -> Any:
        return client.post(f"/bench/baseline/points/{member_ids[index % len(member_ids)]}/")

    with gunicorn(workers=2) as base_url:
        hammer(base_url, baseline, total=200)  # warm up both worker processes
        base = hammer(base_url, baseline, total=total)
        real = hammer(base_url, earn, total=total)
    if real.failures or base.failures:
        raise RuntimeError(f"benchmark requests failed: api={real.failures} baseline={base.failures}")
    return [
        {
            "name": "points earn over HTTP",
            "figure": round(real.per_second, 1),
            "unit": "requests/s",
            "baseline": round(base.per_second, 1),
            "baseline_name": "minimal view, one INSERT",
            "size": f"{total} requests, 8 clients",
        },
        {
            "name": "points earn over HTTP, p95 latency",
            "figure": round(real.p95_ms, 2),
            "unit": "ms",
            "baseline": round(base.p95_ms, 2),
            "baseline_name": "minimal view, one INSERT",
            "size": f"{total} requests, 8 clients",
        },
    ]
