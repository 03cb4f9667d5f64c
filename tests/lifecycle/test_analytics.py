"""The journey analytics figures on a small known journey, the analytics page and its CSV per role, and the
thresholds page (saved through the service, refusals on the form)."""

from datetime import date, timedelta

import pytest
from django.db import connection

from apps.core.errors import ApplicationError
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.lifecycle import selectors, services
from apps.lifecycle.models import LifecycleSettings
from tests.analytics.factories import local
from tests.core.factories import ApiClientFactory
from tests.lifecycle.factories import active_on, ingest, journey_event
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db
# The figures are PostgreSQL statements (percentiles, JSON operators); on the embedded SQLite the page and the API say
# so instead (tested below).
figures_need_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="journey figures are computed on PostgreSQL")

START = local(2026, 10, 1, 10)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
OCTOBER = selectors.Period(start=date(2026, 10, 1), end=date(2026, 10, 31))
REPORT = "/admin/lifecycle/journeyreport/"
THRESHOLDS = "/admin/lifecycle/lifecyclesettings/1/change/"


@pytest.fixture
def journeys():
    """Shanghai: 3 leads, 2 test drives, 1 order, 1 delivery. Hangzhou: 1 lead that a test drive booked 4 hours later."""
    a, b, c, d = MemberFactory(city="上海"), MemberFactory(city="上海"), MemberFactory(city="上海"), MemberFactory(city="杭州")
    ingest(
        ApiClientFactory(),
        journey_event(a, "lead_created", at=START, channel="app"),
        journey_event(a, "test_drive_completed", at=START + 2 * DAY),
        journey_event(a, "order_placed", at=START + 6 * DAY),
        journey_event(a, "delivered", at=START + 20 * DAY),
        journey_event(a, "survey", at=START + 21 * DAY, nps_score=10),
        journey_event(b, "lead_created", at=START + DAY, channel="app"),
        journey_event(b, "test_drive_completed", at=START + 5 * DAY),
        journey_event(b, "survey", at=START + 6 * DAY, nps_score=4),
        journey_event(c, "lead_created", at=START + 2 * DAY, channel="app"),
        journey_event(d, "lead_created", at=START, dealer="HZ001"),
        journey_event(d, "test_drive_booked", at=START + 4 * HOUR, dealer="HZ001"),
        journey_event(d, "lead_created", at=START - 40 * DAY, dealer="BJ001"),  # before the period
    )
    return a, b, c, d


@figures_need_postgresql
def test_the_funnel_by_dealer_counts_steps_conversions_and_median_days(journeys):
    rows = {row[0]: row for row in selectors.journey_funnel(period=OCTOBER).rows}
    assert set(rows) == {"SH001", "HZ001"}  # BJ001's lead entered before the period
    assert rows["SH001"] == ["SH001", 3, 2, 66.7, 1, 50.0, 1, 100.0, 3.0, 4.0, 14.0]
    assert rows["HZ001"][1:4] == [1, 0, 0.0]


@figures_need_postgresql
def test_the_funnel_by_city_channel_and_month(journeys):
    by_city = {row[0]: row[1] for row in selectors.journey_funnel(period=selectors.Period(OCTOBER.start, OCTOBER.end, "city")).rows}
    assert by_city == {"上海": 3}  # the Hangzhou member entered the funnel in August, at BJ001
    by_month = selectors.journey_funnel(period=selectors.Period(OCTOBER.start, OCTOBER.end, "month")).rows
    assert [row[:2] for row in by_month] == [["2026-10", 3]]
    by_channel = {row[0]: row[1] for row in selectors.journey_funnel(period=selectors.Period(OCTOBER.start, OCTOBER.end, "channel")).rows}
    assert by_channel["app"] == 3


@figures_need_postgresql
def test_the_dealer_league_table(journeys):
    rows = {row[0]: row for row in selectors.dealer_league(period=OCTOBER).rows}
    shanghai, hangzhou = rows["SH001"], rows["HZ001"]
    # 3 leads, 2 answered (a after 2 days, b after 4 days: median 72 hours), 2 test drives of which 1 ordered.
    assert shanghai[1:8] == [3, 2, 72.0, 2, 50.0, 1, 1]
    assert shanghai[8:] == [2, 7.0, 0.0]  # one promoter, one detractor
    assert hangzhou[1:4] == [1, 1, 4.0]


@figures_need_postgresql
def test_stage_movements_distribution_and_flows(journeys):
    movements = selectors.stage_movements(period=OCTOBER)
    assert movements.rows[0][0] == "2026-10"
    assert movements.rows[0][1:] == [0, 3, 2, 1, 1, 0]  # into prospect, intent, test-driven, ordered, owner, advocate
    journey_now = {str(row[0]): row[1] for row in selectors.stage_distribution(dimension="journey").rows}
    assert (journey_now["Owner"], journey_now["Intent"], journey_now["Test-driven"]) == (1, 2, 1)
    member = MemberFactory(joined_at=START - 200 * DAY)
    active_on(member, date(2026, 10, 5))
    services.lifecycle_stages_compute(now=local(2026, 10, 20, 3))
    flows = selectors.lifecycle_flows(period=OCTOBER).rows
    assert [str(stage) for stage in flows[0][:2]] == ["New", "Growing"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"start": "yesterday"}, "start"), ({"start": "2026-10-10", "end": "2026-10-01"}, "end"), ({"dimension": "tier"}, "dimension")],
)
def test_a_bad_period_is_refused_naming_the_parameter(params, field):
    with pytest.raises(ApplicationError) as refused:
        selectors.period_from(params)
    assert field in refused.value.fields


@figures_need_postgresql
@pytest.mark.parametrize("role", [ANALYST, OPERATIONS_MANAGER])
def test_analysts_and_operations_see_the_page_and_its_csv(client, staff, role, journeys):
    client.force_login(staff(role))
    page = client.get(REPORT, {"start": "2026-10-01", "end": "2026-10-31"})
    assert page.status_code == 200
    assert "SH001" in page.content.decode()
    csv = client.get(f"{REPORT}export/funnel/", {"start": "2026-10-01", "end": "2026-10-31"})
    assert csv.status_code == 200
    assert "SH001" in b"".join(csv.streaming_content if csv.streaming else [csv.content]).decode()


@figures_need_postgresql
def test_a_bad_period_on_the_page_shows_the_error_and_the_default_period(client, staff):
    client.force_login(staff(ANALYST))
    page = client.get(REPORT, {"start": "not-a-date"})
    assert page.status_code == 200
    assert "start must be a date" in page.content.decode()


@pytest.mark.parametrize("role", [CUSTOMER_SERVICE, CAMPAIGN_MANAGER, AUDITOR])
def test_other_roles_cannot_reach_the_page_the_csv_or_the_thresholds(client, staff, role):
    client.force_login(staff(role))
    assert client.get(REPORT).status_code == 403
    assert client.get(f"{REPORT}export/dealers/").status_code == 403
    assert client.get(THRESHOLDS).status_code == 403
    assert client.post(THRESHOLDS, {"new_days": 1}).status_code == 403


def test_an_analyst_reads_the_thresholds_but_cannot_change_them(client, staff):
    client.force_login(staff(ANALYST))
    assert client.get(THRESHOLDS).status_code == 200
    client.post(THRESHOLDS, _thresholds(new_days=7))
    assert services.lifecycle_settings().new_days == 30


def _thresholds(**changes):
    defaults = LifecycleSettings()
    data = {
        name: getattr(defaults, name)
        for name in [
            "new_days",
            "mature_window_days",
            "mature_min_events",
            "mature_min_purchases",
            "dormant_days",
            "churned_days",
            "returned_days",
            "advocate_service_visits",
        ]
    }
    data.update(changes)
    return data


def test_operations_save_thresholds_and_a_refusal_is_a_form_error(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get("/admin/lifecycle/lifecyclesettings/").url == THRESHOLDS
    assert client.get(THRESHOLDS).status_code == 200
    assert not LifecycleSettings.objects.exists()  # a GET writes nothing
    saved = client.post(THRESHOLDS, _thresholds(new_days=14))
    assert saved.status_code == 302
    assert services.lifecycle_settings().new_days == 14
    refused = client.post(THRESHOLDS, _thresholds(dormant_days=200, churned_days=100))
    assert refused.status_code == 200
    assert "must be longer than the dormant period" in refused.content.decode()
    assert services.lifecycle_settings().dormant_days == 60


@figures_need_postgresql
def test_the_api_returns_the_same_figures_to_a_client_with_analytics_read(trusted_client, journeys):
    api, _client = trusted_client(["analytics:read"])
    assert "funnel" in api.get("/api/v1/journey-metrics/").json()["metrics"]
    answer = api.get("/api/v1/journey-metrics/funnel/", {"start": "2026-10-01", "end": "2026-10-31"})
    assert answer.status_code == 200
    assert answer.json()["rows"][0]["Dealer"] == "HZ001"
    assert [row["Prospects"] for row in answer.json()["rows"]] == [1, 3]


@figures_need_postgresql
def test_the_api_refuses_a_bad_period_an_unknown_figure_and_a_client_without_the_scope(trusted_client, api, client, staff):
    reader, _client = trusted_client(["analytics:read"])
    refused = reader.get("/api/v1/journey-metrics/funnel/", {"dimension": "tier"})
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"dimension": "tier"}
    assert reader.get("/api/v1/journey-metrics/nope/").status_code == 404
    writer, _client = trusted_client(["activity:write"])
    assert writer.get("/api/v1/journey-metrics/funnel/").status_code == 403
    assert api.get("/api/v1/journey-metrics/funnel/").status_code in (401, 403)
    api.force_login(staff(CUSTOMER_SERVICE))
    assert api.get("/api/v1/journey-metrics/funnel/").status_code == 403
    api.force_login(staff(ANALYST))
    assert api.get("/api/v1/journey-metrics/dealers/").status_code == 200


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the embedded SQLite's answer")
def test_on_sqlite_the_page_and_the_api_say_the_figures_need_postgresql(client, staff, trusted_client):
    client.force_login(staff(ANALYST))
    page = client.get(REPORT)
    assert page.status_code == 200
    assert "Journey analytics need PostgreSQL" in page.content.decode()
    reader, _client = trusted_client(["analytics:read"])
    refused = reader.get("/api/v1/journey-metrics/funnel/")
    assert refused.status_code == 501
    assert refused.json()["error"]["code"] == "postgresql_required"
