"""A metrics slice (tier, city, channel) singles no one out for a caller without the right to personal data."""

from datetime import date

import pytest
from django.urls import reverse

from apps.analytics.selectors import MetricFilter, metric_filter_check_group
from apps.core.errors import ApplicationError
from apps.core.models import ApiScope
from apps.core.roles import ANALYST, OPERATIONS_MANAGER
from apps.members.models import MemberStatus
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db
MARCH = {"start": date(2026, 3, 1), "end": date(2026, 3, 31)}
DASHBOARD = "admin:analytics_dailymetric_changelist"


def members(count: int, **fields) -> None:
    for _n in range(count):
        MemberFactory(**fields)


@pytest.fixture
def programme() -> None:
    members(6, city="上海", tier=tier("basic"), source_channel="app")
    members(1, city="上海", tier=tier("silver"), source_channel="app")
    members(4, city="杭州", tier=tier("basic"), source_channel="store")
    members(3, city="杭州", status=MemberStatus.PROSPECT)
    members(10, city="北京", tier=tier("basic"), source_channel="store")


def refused(**slice_) -> dict:
    with pytest.raises(ApplicationError) as caught:
        metric_filter_check_group(f=MetricFilter(**MARCH, **slice_))
    assert caught.value.code == "group_too_small"
    return caught.value.fields


def test_a_slice_of_fewer_than_five_enrolled_members_is_refused_naming_its_filters(programme):
    assert refused(city="杭州") == {"city": "杭州"}
    assert refused(city="北京", channel="app") == {"city": "北京", "channel": "app"}


def test_a_slice_that_leaves_one_to_four_members_of_a_wider_slice_outside_it_is_refused(programme):
    # 上海 holds 7 and 上海 × basic 6: the difference of the two figures would be the one silver member.
    assert refused(city="上海", tier_id=tier("basic").pk) == {"city": "上海", "tier": str(tier("basic").pk)}
    # 北京 × store holds 10, but the store channel's other 4 are 杭州's.
    assert refused(city="北京", channel="store") == {"city": "北京", "channel": "store"}


def test_wide_enough_slices_and_no_slice_pass(programme):
    metric_filter_check_group(f=MetricFilter(**MARCH))
    metric_filter_check_group(f=MetricFilter(**MARCH, city="北京"))
    metric_filter_check_group(f=MetricFilter(**MARCH, city="上海"))
    metric_filter_check_group(f=MetricFilter(**MARCH, channel="store"))
    metric_filter_check_group(f=MetricFilter(**MARCH, city="北京", tier_id=tier("basic").pk))


def test_the_api_refuses_a_small_slice_to_a_key_that_may_not_read_members(programme, trusted_client):
    analytics, _client = trusted_client([ApiScope.ANALYTICS_READ])
    small = analytics.get("/api/v1/metrics/daily/", {"city": "杭州"})
    assert small.status_code == 400 and small.json()["error"]["code"] == "group_too_small"
    assert small.json()["error"]["fields"] == {"city": "杭州"}
    assert analytics.get("/api/v1/metrics/tiers/", {"city": "北京"}).status_code == 200
    reader, _client = trusted_client([ApiScope.ANALYTICS_READ, ApiScope.MEMBERS_READ])
    assert reader.get("/api/v1/metrics/tiers/", {"city": "杭州"}).status_code == 200


def test_the_api_refuses_a_small_slice_to_staff_without_the_personal_data_right(programme, client, staff):
    client.force_login(staff(ANALYST))
    assert client.get("/api/v1/metrics/tiers/", {"city": "杭州"}).status_code == 400
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get("/api/v1/metrics/tiers/", {"city": "杭州"}).status_code == 200


def test_the_dashboard_shows_an_analyst_the_refusal_and_the_unsliced_figures(programme, client, staff):
    client.force_login(staff(ANALYST))
    page = client.get(reverse(DASHBOARD), {"city": "杭州"})
    assert page.status_code == 200 and "could single members out" in page.content.decode()
    assert page.context["f"].city == ""
    export = client.get(reverse("admin:analytics_dashboard_export", args=["tiers"]), {"city": "杭州"})
    assert export.status_code == 200 and "杭州" not in export.content.decode("utf-8-sig")
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get(reverse(DASHBOARD), {"city": "杭州"}).context["f"].city == "杭州"
