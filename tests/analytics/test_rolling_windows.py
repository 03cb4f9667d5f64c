"""DAU, WAU and MAU over rolling windows ending the same day: comparable on every day, the 1st of a month included."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.analytics import selectors, services
from apps.analytics.selectors import MetricFilter
from tests.analytics.factories import ActivityEventFactory, local
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity() -> None:
    """Local (Asia/Shanghai) activity days:
    M1: 11-05, 11-28, 12-01    M2: 11-20    M3: 11-29, 11-30    M4: 12-01 (00:00:30, still 11-30 in UTC), 12-02
    """
    m1, m2, m3, m4 = (MemberFactory(joined_at=local(2026, 10, 1, 9)) for _ in range(4))
    for member, days in ((m1, [(11, 5), (11, 28), (12, 1)]), (m2, [(11, 20)]), (m3, [(11, 29), (11, 30)]), (m4, [(12, 2)])):
        for month, day in days:
            ActivityEventFactory(member=member, occurred_at=local(2026, month, day, 12))
    ActivityEventFactory(member=m4, occurred_at=local(2026, 12, 1, 0, 0, 30))
    services.rollup_run(full=True)


def headline(day: date) -> dict:
    return selectors.active_members(f=MetricFilter(start=day - timedelta(days=89), end=day)).headline


@pytest.mark.parametrize(
    ("day", "dau", "wau", "mau", "stickiness"),
    [
        # 30 days to 11-30: M1 (2 days), M2 (1), M3 (2) → 5 member-days ÷ (30 × 3)
        (date(2026, 11, 30), 1, 2, 3, Decimal("5.6")),
        # the 1st: 11-02 … 12-01 holds all four; 7 member-days ÷ (30 × 4); the calendar month would say MAU 2
        (date(2026, 12, 1), 2, 3, 4, Decimal("5.8")),
        (date(2026, 12, 2), 1, 3, 4, Decimal("6.7")),  # 8 member-days
        (date(2026, 12, 5), 0, 3, 4, Decimal("5.8")),  # M1's 11-05 has left the window: 7 member-days
        (date(2026, 12, 31), 0, 0, 1, Decimal("3.3")),  # only M4's 12-02 is left: 1 ÷ 30
    ],
)
def test_rolling_windows_computed_by_hand(activity: None, day: date, dau: int, wau: int, mau: int, stickiness: Decimal) -> None:
    figures = headline(day)
    assert (figures["dau"], figures["wau"], figures["mau"], figures["stickiness_percent"]) == (dau, wau, mau, stickiness)


def test_dau_wau_mau_nest_on_every_day_of_the_month(activity: None) -> None:
    for offset in range(31):
        figures = headline(date(2026, 12, 1) + timedelta(days=offset))
        assert figures["dau"] <= figures["wau"] <= figures["mau"]
        assert figures["stickiness_percent"] is None or figures["stickiness_percent"] <= 100


def test_each_headline_says_its_window(activity: None, client, staff) -> None:
    client.force_login(staff(is_superuser=True))
    page = client.get(reverse("admin:analytics_dailymetric_changelist"), {"start": "2026-11-01", "end": "2026-12-01"}).content.decode()
    for label in ("DAU (on ", "WAU (7 days to ", "MAU (30 days to ", "Stickiness (average DAU ÷ MAU, 30 days to "):
        assert label in page
    assert "last month" not in page
