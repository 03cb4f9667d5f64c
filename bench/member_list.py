"""The back office member list on a large table: time and queries per page view, beside the naive
exact counts that Django's admin would run on every view (same page, same run)."""

import statistics
import time
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.core.admin_pagination import EstimatedCountPaginator
from apps.core.models import User
from apps.members.models import Member
from bench.data import ensure_members

SIZES = {"quick": 100_000, "full": 1_000_000}
VIEWS = 15


def _timed(action: Any) -> tuple[float, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        action()
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(queries)


def _page_time(client: Client, url: str) -> tuple[float, int]:
    def view() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    view()
    timings = [_timed(view) for _ in range(VIEWS)]
    return statistics.median(t for t, _q in timings), timings[0][1]


def run(size: str) -> list[dict[str, Any]]:
    count = SIZES[size]
    ensure_members(count)
    user, _created = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    member_admin = admin.site._registry[Member]
    results = []
    pages = [("unfiltered", ""), ("page 200", "?p=200"), ("filtered by tier", "?tier__id__exact=1"), ("phone search", "?q=130-0000-4242")]
    for label, query in pages:
        url = "/admin/members/member/" + query
        figure, queries = _page_time(client, url)
        # The baseline is the same page as stock Django admin would serve it: an exact COUNT(*) on every view.
        member_admin.paginator, member_admin.show_full_result_count = Paginator, True
        try:
            baseline, baseline_queries = _page_time(client, url)
        finally:
            member_admin.paginator, member_admin.show_full_result_count = EstimatedCountPaginator, False
        results.append(
            {
                "name": f"member list page ({label})",
                "figure": round(figure, 2),
                "unit": "ms/page",
                "baseline": round(baseline, 2),
                "baseline_name": f"same page with Django's exact counts, {baseline_queries} queries",
                "size": f"{count:,} members, {queries} queries/page",
            }
        )
    return results
