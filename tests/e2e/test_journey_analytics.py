"""The journey analytics page in 中文, as an analyst reads it: the funnel by dealer, switched to by month, and the
dealer league table, from journeys ingested the way dealer systems send them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.roles import ANALYST
from tests.core.factories import ApiClientFactory
from tests.lifecycle.factories import ingest, journey_event
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DAY = timedelta(days=1)


def test_an_analyst_reads_the_funnel_and_the_dealer_league_in_chinese(page, login_as, screenshot):
    start = timezone.now() - 40 * DAY
    buyer, browser_only = MemberFactory(city="上海"), MemberFactory(city="杭州")
    ingest(
        ApiClientFactory(),
        journey_event(buyer, "lead_created", at=start),
        journey_event(buyer, "test_drive_completed", at=start + 2 * DAY),
        journey_event(buyer, "order_placed", at=start + 6 * DAY),
        journey_event(buyer, "delivered", at=start + 20 * DAY),
        journey_event(browser_only, "lead_created", at=start, dealer="HZ001"),
    )
    login_as(ANALYST)
    page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": page.url}])
    page.goto("/admin/lifecycle/journeyreport/")
    funnel = page.get_by_test_id("figure-funnel")
    assert "旅程漏斗：潜客 → 试驾 → 订单 → 交付" in page.get_by_test_id("journey-funnel").inner_text()
    assert "经销商" in funnel.locator("thead").inner_text()
    rows = funnel.locator("tbody tr")
    assert rows.count() == 2
    assert rows.filter(has_text="SH001").locator("td").nth(1).inner_text() == "1"
    assert "经销商排行榜" in page.content()
    page.get_by_test_id("funnel-dimension").select_option("month")
    page.get_by_role("button", name="应用").click()
    page.wait_for_url("**dimension=month**")
    assert page.get_by_test_id("figure-funnel").locator("thead th").first.inner_text() == "月"
    assert page.get_by_test_id("figure-funnel").locator("tbody tr td").first.inner_text() == timezone.localtime(start).strftime("%Y-%m")
    screenshot("zh-hans-journey-analytics")
