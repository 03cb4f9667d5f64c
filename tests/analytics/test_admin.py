import pytest
from django.urls import reverse

from apps.analytics import services
from apps.core.models import AccessAction, AccessLogEntry
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from tests.analytics.factories import ActivityEventFactory, local, purchase, survey
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db
DASHBOARD = "admin:analytics_dailymetric_changelist"


@pytest.fixture
def data() -> None:
    member = MemberFactory(joined_at=local(2026, 1, 10, 9), city="上海")
    ActivityEventFactory(member=member, occurred_at=local(2026, 3, 1, 10))
    purchase(member, local(2026, 3, 2, 10), "88.00")
    survey(member, local(2026, 3, 3, 10), 10)
    services.rollup_run()
    services.rfm_score_members(now=local(2026, 3, 31, 12))


@pytest.mark.parametrize("role", [ANALYST, OPERATIONS_MANAGER, CAMPAIGN_MANAGER])
def test_dashboard_renders_for_roles_that_view_analytics(client, staff, role, data):
    client.force_login(staff(role))
    page = client.get(reverse(DASHBOARD), {"start": "2026-01-01", "end": "2026-03-31"})
    assert page.status_code == 200
    html = page.content.decode()
    for marker in (
        'data-testid="cohort-heatmap"',
        'data-testid="funnel"',
        'data-testid="tier-distribution"',
        'data-type="line"',
        "csv-daily",
    ):
        assert marker in html
    assert "rfm_segment=champions" in html or "rfm_segment=" in html
    assert f"tier__id__exact={tier('basic').pk}" in html
    assert "joined_at__gte=2026-01-01T00%3A00%3A00%2B08%3A00" in html


def test_dashboard_refused_without_the_right(client, staff, data):
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.get(reverse(DASHBOARD)).status_code == 403
    assert client.get(reverse("admin:analytics_dashboard_export", args=["daily"])).status_code == 403


def test_bad_filter_shows_an_error_and_the_default_range(client, staff, data):
    client.force_login(staff(ANALYST))
    page = client.get(reverse(DASHBOARD), {"start": "2026-03-05", "end": "2026-03-01"})
    assert page.status_code == 200 and "The range ends before it starts." in page.content.decode()


def test_each_figure_exports_to_csv(client, staff, data):
    client.force_login(staff(ANALYST))
    for name in ("daily", "monthly", "cohorts", "funnel", "tiers", "rfm", "points", "benefits", "events", "campaigns", "nps", "ltv"):
        response = client.get(reverse("admin:analytics_dashboard_export", args=[name]), {"start": "2026-03-01", "end": "2026-03-31"})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv"), name
    daily = client.get(
        reverse("admin:analytics_dashboard_export", args=["daily"]), {"start": "2026-03-01", "end": "2026-03-03"}
    ).content.decode()
    assert daily.splitlines()[1:] == ["2026-03-01,1,0,0,0.00", "2026-03-02,1,0,1,88.00", "2026-03-03,1,0,0,0.00"]
    logged = AccessLogEntry.objects.filter(action=AccessAction.EXPORT, object_type="analytics.daily").latest("pk")
    assert logged.row_count == 3


def test_member_list_drill_down_by_rfm_segment(client, staff, data):
    client.force_login(staff(ANALYST))
    assert client.get(reverse("admin:members_member_changelist"), {"rfm_segment": "champions"}).status_code == 200
    assert (
        client.get(
            reverse("admin:members_member_changelist"),
            {"joined_at__gte": "2026-01-01T00:00:00+08:00", "joined_at__lt": "2026-02-01T00:00:00+08:00"},
        ).status_code
        == 200
    )


def test_activity_log_and_rfm_lists_render(client, staff, data):
    client.force_login(staff(ANALYST))
    assert client.get(reverse("admin:analytics_activityevent_changelist")).status_code == 200
    assert client.get(reverse("admin:analytics_rfmscore_changelist")).status_code == 200


def test_the_activity_list_finds_an_event_or_an_order_exactly(client, staff):
    member = MemberFactory()
    app_open = ActivityEventFactory(member=member, event_id="app-open-2026-0001")
    order = purchase(member, local(2026, 3, 2, 10), "88.00", order_ref="SO-778899")
    client.force_login(staff(ANALYST))
    url = reverse("admin:analytics_activityevent_changelist")

    def shown(text: str) -> list[int]:
        return [event.pk for event in client.get(url, {"q": text}).context_data["cl"].result_list]

    assert shown("app-open-2026-0001") == [app_open.pk]
    assert shown(" SO-778899 ") == [order.pk]
    assert shown("app-open") == [] and shown("778899") == []
    assert "Event ID or order reference (exact)" in client.get(url).content.decode()
