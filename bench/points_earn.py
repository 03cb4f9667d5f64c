"""Points earn over HTTP — the real API (key auth, Idempotency-Key, account lock, ledger row, lot, balance) — beside
its floor view (lock the account, insert the ledger row, update the balance), both served by the same gunicorn."""

import uuid
from typing import Any

from apps.core.models import ApiScope
from apps.core.services import api_client_create
from apps.members.models import Member, PointsEntry
from bench.data import ensure_members
from bench.load import beside_floor

SIZES = {"quick": 2_000, "full": 10_000}
MEMBERS = 1_000


def run(size: str) -> list[dict[str, Any]]:
    ensure_members(MEMBERS)
    member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:MEMBERS])
    _client, key = api_client_create(name=f"bench-{uuid.uuid4().hex[:8]}", scopes=[ApiScope.POINTS_WRITE])
    run_id = uuid.uuid4().hex[:8]

    def body(side: str, index: int) -> dict[str, Any]:
        return {"amount": 10, "reason": "Benchmark purchase", "source_ref": f"{side}-{run_id}-{index}"}

    def earn(client: Any, index: int) -> Any:
        return client.post(
            f"/api/v1/members/{member_ids[index % len(member_ids)]}/points/earn/",
            json=body("api", index),
            headers={"X-Api-Key": key, "Idempotency-Key": f"{run_id}-{index}"},
        )

    def floor(client: Any, index: int) -> Any:
        return client.post(f"/bench/floor/members/{member_ids[index % len(member_ids)]}/points/earn/", json=body("floor", index))

    def rows_written() -> tuple[int, int]:
        entries = PointsEntry.objects.all()
        return (
            entries.filter(source_ref__startswith=f"api-{run_id}-").count(),
            entries.filter(source_ref__startswith=f"floor-{run_id}-").count(),
        )

    return beside_floor("points earn", api=earn, floor=floor, rows_written=rows_written, total=SIZES[size])
