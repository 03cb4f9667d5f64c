"""Points earn over HTTP (the real API: key auth, Idempotency-Key, row lock, ledger + lot + balance)
beside a minimal Django view doing one INSERT, both served by the same gunicorn."""

import uuid
from typing import Any

from apps.core.models import ApiScope
from apps.core.services import api_client_create
from apps.members.models import Member
from bench.data import ensure_members
from bench.load import against_minimal_view

SIZES = {"quick": 2_000, "full": 10_000}
MEMBERS = 1_000


def run(size: str) -> list[dict[str, Any]]:
    total = SIZES[size]
    ensure_members(MEMBERS)
    member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:MEMBERS])
    _client, key = api_client_create(name=f"bench-{uuid.uuid4().hex[:8]}", scopes=[ApiScope.POINTS_WRITE])
    run_id = uuid.uuid4().hex[:8]

    def earn(client: Any, index: int) -> Any:
        return client.post(
            f"/api/v1/members/{member_ids[index % len(member_ids)]}/points/earn/",
            json={"amount": 10, "reason": "Benchmark purchase", "source_ref": f"bench-{index}"},
            headers={"X-Api-Key": key, "Idempotency-Key": f"{run_id}-{index}"},
        )

    return against_minimal_view("points earn", earn, total=total)
