"""The back office home page: the programme at a glance, composed from each app's selectors."""

from typing import Any

from django.http import HttpRequest

from apps.core.replicas import replica_reads
from apps.members import selectors as member_selectors


@replica_reads()
def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    if not request.user.has_perm("members.view_member"):
        return context
    overview = member_selectors.programme_overview()
    largest = max((count for _tier, count in overview.members_by_tier), default=0) or 1
    context["overview"] = overview
    context["tier_rows"] = [
        {
            "tier": tier,
            "count": count,
            "share": round(100 * count / (overview.members_total or 1), 1),
            "width": round(100 * count / largest),
        }
        for tier, count in overview.members_by_tier
    ]
    return context
