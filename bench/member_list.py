"""Every back-office list at 10,000 rows beside the same list, with the same filters, at 1,000,000 (100,000 with
``--size quick``): milliseconds and queries per page view, and no COUNT over a whole table.

The baseline is the same page at 10,000 rows: a list page should cost what one page of rows costs, whatever the
table's size. The two sizes live in two schemas of the benchmark database; the views alternate between them over
several rounds and the median of each is reported. Both must show the same number of rows with the same number of
queries, and no query may count without a bound (``COUNT`` without ``LIMIT``).
"""

import functools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.models import User
from apps.members.models import Tier
from bench.list_data import ensure_lists, use_schema

SMALL = 10_000
SIZES = {"quick": 100_000, "full": 1_000_000}
# Seven rounds at 100,000 rows; three at 1,000,000, where one pass over every page takes most of an hour.
ROUNDS = {"quick": 7, "full": 3}
MEMBER_ID = 4242

# (list, URL, filters): each filter is the query string a member of staff would send, the same at both sizes.
PAGES: list[tuple[str, str, list[str]]] = [
    (
        "members",
        "/admin/members/member/",
        [
            "",
            "?p=20",
            "?status__exact=frozen",
            "?source_channel__exact=import",
            "?tier__id__exact={gold}",
            "?city__istartswith=上海",
            "?city__istartswith=拉萨",
            "?consent=sms",
            "?q=L4242",
            "?q=131+0000+4242",
            "?q=Member+42",
            "?q=nobody@example.com",
        ],
    ),
    (
        "points ledger",
        "/admin/members/pointsentry/",
        ["", "?kind__exact=adjust", f"?account__member__id__exact={MEMBER_ID}", "?q=ORDER-4242"],
    ),
    ("tier changes", "/admin/members/tierchange/", ["", "?kind__exact=demotion"]),
    ("grants", "/admin/benefits/grant/", ["", "?state__exact=issued", f"?member__id__exact={MEMBER_ID}", "?q=G00000004242"]),
    ("registrations", "/admin/events/registration/", ["", "?state__exact=cancelled"]),
    (
        "activity events",
        "/admin/analytics/activityevent/",
        ["", "?kind=purchase", f"?member__id__exact={MEMBER_ID}", "?q=E4242", "?q=no-such-event"],
    ),
    ("campaign runs", "/admin/campaigns/campaignrun/", ["", "?status__exact=running"]),
    ("access log", "/admin/core/accesslogentry/", ["", "?action__exact=export", "?q=nobody"]),
    ("import jobs", "/admin/imports/importjob/", ["", "?status__exact=failed"]),
    ("messages", "/admin/messaging/message/", ["", "?state__exact=queued", "?q=D4242"]),
    (
        "leads",
        "/admin/sales/lead/",
        ["", "?outcome__exact=matched_prospect", "?channel__exact=dealer", "?q=LD4242", "?q=Member+42", "?q=no+such+lead"],
    ),
    ("feedback items", "/admin/feedback/feedbackitem/", ["", "?status__exact=open", "?priority__exact=urgent", "?q=lost"]),
    ("journey enrolments", "/admin/journeys/enrolment/", ["", "?state__exact=active", "?in_holdout__exact=0"]),
    ("rule awards", "/admin/rules/ruleaward/", ["", "?status__exact=held", f"?member__id__exact={MEMBER_ID}", "?q=E4242", "?q=E0"]),
    (
        "webhook deliveries",
        "/admin/webhooks/webhookdelivery/",
        ["", "?status__exact=dead", f"?q={MEMBER_ID}", "?q=00000000-0000-0000-0000-000000000000"],
    ),
    # Every other list registered in the back office: those that grow with the programme with the filters and searches
    # staff use, the catalogue and settings lists (a few rows at any size) unfiltered.
    ("RFM scores", "/admin/analytics/rfmscore/", ["", "?segment__exact=champions"]),
    ("referrals", "/admin/campaigns/referral/", ["", "?state__exact=rewarded", "?q=R4242"]),
    ("failed tasks", "/admin/core/failedtask/", ["", "?state__exact=failed"]),
    ("sign-ins", "/admin/engagement/signin/", [""]),
    ("task progress", "/admin/engagement/taskprogress/", [""]),
    ("task completions", "/admin/engagement/taskcompletion/", [""]),
    ("club memberships", "/admin/events/clubmembership/", ["", "?role__exact=organiser"]),
    ("club join requests", "/admin/events/clubjoinrequest/", ["", "?status__exact=pending"]),
    ("survey responses", "/admin/feedback/surveyresponse/", [""]),
    ("channel identities", "/admin/identities/channelidentity/", ["", "?kind__exact=mini_program", "?q=o4242"]),
    ("subscription quotas", "/admin/identities/subscriptionquota/", ["", "?q=tmpl-none"]),
    ("duplicates", "/admin/members/duplicatecandidate/", ["", "?state__exact=open"]),
    ("tag changes", "/admin/members/tagchange/", ["", "?action__exact=removed"]),
    ("tier assignments", "/admin/members/tierassignment/", [""]),
    ("points adjustments", "/admin/members/pointsadjustment/", ["", "?state__exact=pending"]),
    ("growth adjustments", "/admin/members/growthadjustment/", ["", "?state__exact=pending"]),
    ("owned products", "/admin/sales/ownedproduct/", ["", "?status__exact=owned", "?q=VIN00000000004242"]),
    ("blocklist", "/admin/abuse/blockentry/", [""]),
    ("velocity limits", "/admin/abuse/velocitylimit/", [""]),
    ("registered activity kinds", "/admin/analytics/registeredactivitykind/", [""]),
    ("staff groups", "/admin/auth/group/", [""]),
    ("benefits", "/admin/benefits/benefit/", [""]),
    ("campaigns", "/admin/campaigns/campaign/", [""]),
    ("segments", "/admin/campaigns/segment/", [""]),
    ("API clients", "/admin/core/apiclient/", [""]),
    ("staff users", "/admin/core/user/", [""]),
    ("clocked schedules", "/admin/django_celery_beat/clockedschedule/", [""]),
    ("crontab schedules", "/admin/django_celery_beat/crontabschedule/", [""]),
    ("interval schedules", "/admin/django_celery_beat/intervalschedule/", [""]),
    ("periodic tasks", "/admin/django_celery_beat/periodictask/", [""]),
    ("solar schedules", "/admin/django_celery_beat/solarschedule/", [""]),
    ("tasks", "/admin/engagement/task/", [""]),
    ("clubs", "/admin/events/club/", [""]),
    ("events", "/admin/events/event/", [""]),
    ("feedback categories", "/admin/feedback/feedbackcategory/", [""]),
    ("surveys", "/admin/feedback/survey/", [""]),
    ("journeys", "/admin/journeys/journey/", [""]),
    ("member merges", "/admin/members/membermerge/", [""]),
    ("tags", "/admin/members/tag/", [""]),
    ("tiers", "/admin/members/tier/", [""]),
    ("message templates", "/admin/messaging/messagetemplate/", [""]),
    ("earning rules", "/admin/rules/earningrule/", [""]),
    ("dealers", "/admin/sales/dealer/", [""]),
    ("product kinds", "/admin/sales/productkind/", [""]),
    ("attributes", "/admin/tagging/attribute/", [""]),
    ("attribute imports", "/admin/tagging/attributeimport/", [""]),
    ("auto-tag rules", "/admin/tagging/autotagrule/", [""]),
    ("tag jobs", "/admin/tagging/tagjob/", [""]),
    ("webhook endpoints", "/admin/webhooks/webhookendpoint/", [""]),
]
# The lists last changed or last added to the benchmark go first, so that a run cut short by the clock has measured them.
FIRST = [
    *("leads", "rule awards", "webhook deliveries", "activity events", "points ledger", "referrals", "clubs"),
    *("RFM scores", "failed tasks", "sign-ins", "task progress", "task completions", "club memberships", "club join requests"),
    *("survey responses", "channel identities", "subscription quotas", "duplicates", "tag changes", "tier assignments"),
    *("points adjustments", "growth adjustments", "owned products", "tiers", "events", "tasks"),
]
PAGES.sort(key=lambda page: FIRST.index(page[0]) if page[0] in FIRST else len(FIRST))

# Registered pages that are no list of rows, so not measured here: each draws a dashboard or one settings form.
NOT_LISTS = {
    "/admin/analytics/dailymetric/": "the analytics dashboard (bench/analytics_dashboard.py)",
    "/admin/lifecycle/journeyreport/": "the journey analytics page",
    "/admin/lifecycle/lifecyclesettings/": "one settings form",
}


def unmeasured_lists() -> list[str]:
    """Lists registered in the back office that this benchmark neither measures nor names as no list."""
    registered = {reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry}
    return sorted(registered - {path for _name, path, _filters in PAGES} - set(NOT_LISTS))


def _client(schema: str) -> Client:
    use_schema(schema)
    user, _created = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    return client


def _view(schema: str, client: Client, url: str) -> tuple[float, list[str], int]:
    use_schema(schema)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (schema, url, response.status_code)
    return elapsed, [query["sql"] for query in queries.captured_queries], len(response.context_data["cl"].result_list)


def unbounded_counts(statements: list[str]) -> list[str]:
    """Counts that read every matching row: a page view may count up to a cap (``LIMIT``) or ask the planner, never more."""
    return [sql for sql in statements if "COUNT(" in sql.upper() and "LIMIT" not in sql.upper()]


def _measure(views: dict[str, Callable[[], tuple[float, list[str], int]]], rounds: int) -> dict[str, tuple[float, int, int, list[str]]]:
    timings: dict[str, list[float]] = {size: [] for size in views}
    shape: dict[str, tuple[int, int, list[str]]] = {}
    for view in views.values():
        view()  # warm the cache of each size before timing
    for _round in range(rounds):
        for size, view in views.items():  # alternate the two sizes, so load on the machine falls on both alike
            elapsed, statements, rows = view()
            timings[size].append(elapsed)
            shape[size] = (len(statements), rows, unbounded_counts(statements))
    return {size: (statistics.median(timings[size]), *shape[size]) for size in views}


def run(size: str) -> Iterator[dict[str, Any]]:
    """Each page's figures as soon as they are measured: a run stopped part-way still reports what it measured."""
    missing = unmeasured_lists()
    assert not missing, f"back-office lists the benchmark does not measure: {missing}"
    large = SIZES[size]
    small_schema, large_schema = ensure_lists(SMALL), ensure_lists(large)
    clients = {small_schema: _client(small_schema), large_schema: _client(large_schema)}
    use_schema(small_schema)
    gold = Tier.objects.get(code="gold").pk
    for name, path, filters in PAGES:
        for query in filters:
            url = path + query.format(gold=gold)
            measured = _measure(
                {schema: functools.partial(_view, schema, clients[schema], url) for schema in (small_schema, large_schema)}, ROUNDS[size]
            )
            (small_ms, small_queries, small_rows, small_counts) = measured[small_schema]
            (large_ms, large_queries, large_rows, large_counts) = measured[large_schema]
            assert small_rows == large_rows, (url, small_rows, large_rows)
            counts = "none" if not (small_counts or large_counts) else f"{len(large_counts)} unbounded"
            yield (
                {
                    "name": f"{name} {query.format(gold=gold) or '(unfiltered)'}",
                    "figure": round(large_ms, 2),
                    "unit": "ms/page",
                    "baseline": round(small_ms, 2),
                    "baseline_name": f"same page at {SMALL:,} rows, {small_queries} queries",
                    "size": f"{large:,} rows, {large_queries} queries, {large_rows} rows shown, full COUNTs: {counts}",
                }
            )
