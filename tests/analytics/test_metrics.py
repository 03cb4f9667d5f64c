"""Each metric against a small data set computed by hand (see the comments), read from the roll-ups."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.analytics import selectors, services
from apps.analytics.models import ActivityKind, DailyMemberActivity, DailyMetric, PeriodMetric
from apps.analytics.selectors import MetricFilter
from tests.analytics.factories import ActivityEventFactory, local, purchase, survey
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db

MARCH = MetricFilter(start=date(2026, 3, 1), end=date(2026, 3, 31))


@pytest.fixture
def programme() -> dict:
    """A and B join in January, C and D in February; C never does anything.

    local (Asia/Shanghai) times:
      A  03-01 23:59:59 app open      → day 03-01 (15:59:59 UTC)
      A  03-02 00:00:00 purchase 100  → day 03-02 (still 03-01 in UTC)
      A  03-02 10:00    purchase 50
      B  03-02 09:00    purchase 30
      B  03-15 12:00    survey 9 (promoter)
      A  03-20 12:00    survey 3 (detractor)
      D  02-12 08:00    app open
    """
    a = MemberFactory(joined_at=local(2026, 1, 10, 9), city="上海")
    b = MemberFactory(joined_at=local(2026, 1, 20, 23, 30), city="北京", tier=tier("silver"))
    c = MemberFactory(joined_at=local(2026, 2, 5, 0, 10), city="上海")
    d = MemberFactory(joined_at=local(2026, 2, 10, 12), city="上海")
    ActivityEventFactory(member=a, occurred_at=local(2026, 3, 1, 23, 59, 59))
    purchase(a, local(2026, 3, 2, 0, 0, 0), "100.00")
    purchase(a, local(2026, 3, 2, 10), "50.00")
    purchase(b, local(2026, 3, 2, 9), "30.00")
    survey(b, local(2026, 3, 15, 12), 9)
    survey(a, local(2026, 3, 20, 12), 3)
    ActivityEventFactory(member=d, occurred_at=local(2026, 2, 12, 8))
    services.rollup_run()
    return {"a": a, "b": b, "c": c, "d": d}


def _dau(f: MetricFilter) -> dict[date, int]:
    return {row[0]: row[1] for row in selectors.daily_activity(f=f).rows}


def test_daily_active_members_respect_local_midnight(programme: dict) -> None:
    dau = _dau(MARCH)
    assert dau[date(2026, 3, 1)] == 1  # A's 23:59:59 open
    assert dau[date(2026, 3, 2)] == 2  # A's midnight purchase belongs to 03-02, with B's
    assert dau[date(2026, 3, 15)] == 1
    assert dau[date(2026, 3, 3)] == 0
    assert sum(dau.values()) == 5
    day2 = DailyMemberActivity.objects.get(member=programme["a"], day=date(2026, 3, 2))
    assert (day2.purchases, day2.revenue, day2.events) == (2, Decimal("150.00"), 2)


def test_new_members_count_members_without_activity(programme: dict) -> None:
    feb = MetricFilter(start=date(2026, 2, 1), end=date(2026, 2, 28))
    assert selectors.daily_activity(f=feb).headline["new_members"] == 2  # C (no activity) and D
    # C joined 00:10 local on 02-05, which is 02-04 in UTC
    assert DailyMetric.objects.get(day=date(2026, 2, 5)).new_members == 1


def test_monthly_mau_stickiness_and_purchases(programme: dict) -> None:
    figure = selectors.monthly_activity(f=MARCH)
    month, mau, avg_dau, stickiness, purchasers, repeat, repurchase, frequency, aov = figure.rows[0]
    assert month == date(2026, 3, 1)
    assert mau == 2  # A and B
    assert avg_dau == Decimal("0.2")  # 5 member-days ÷ 31 days
    assert stickiness == Decimal("8.1")  # 5 ÷ (31 × 2)
    assert (purchasers, repeat) == (2, 1)  # A bought twice
    assert repurchase == Decimal("50.0")
    assert frequency == Decimal("1.50")  # 3 purchases ÷ 2 purchasers
    assert aov == Decimal("60.00")  # 180 ÷ 3
    assert figure.headline["revenue"] == Decimal("180.00")


def test_weekly_active_members(programme: dict) -> None:
    weeks = dict(selectors.weekly_activity(f=MARCH).rows)
    assert weeks[date(2026, 2, 23)] == 1  # week of Mon 02-23 holds Sun 03-01: A
    assert weeks[date(2026, 3, 2)] == 2  # A and B on 03-02
    assert weeks[date(2026, 3, 9)] == 1  # B's survey on 03-15


def test_cohort_retention(programme: dict) -> None:
    f = MetricFilter(start=date(2026, 1, 1), end=date(2026, 3, 31))
    rows = {row[0]: row[1:] for row in selectors.cohort_retention(f=f, horizon=3).rows}
    assert rows[date(2026, 1, 1)] == [2, Decimal("0.0"), Decimal("0.0"), Decimal("100.0")]  # A, B active in March
    assert rows[date(2026, 2, 1)] == [2, Decimal("50.0"), Decimal("0.0"), Decimal("0.0")]  # D in February; C never
    assert rows[date(2026, 3, 1)] == [0, None, None, None]


def test_nps(programme: dict) -> None:
    figure = selectors.nps(f=MARCH)
    assert figure.headline == {"nps": Decimal("0.0"), "answers": 2}


def test_slice_filters_by_tier_and_city(programme: dict) -> None:
    silver = MetricFilter(start=MARCH.start, end=MARCH.end, tier_id=tier("silver").pk)
    assert sum(_dau(silver).values()) == 2  # only B
    shanghai = MetricFilter(start=MARCH.start, end=MARCH.end, city="上海")
    assert selectors.monthly_activity(f=shanghai).rows[0][1] == 1  # A


def test_funnel(programme: dict) -> None:
    rows = selectors.funnel(f=MARCH).rows
    assert [r[1] for r in rows] == [4, 2, 2, 1]


def test_late_event_is_rolled_up_incrementally_and_full_rerun_agrees(programme: dict, settings: object) -> None:
    settings.USEROPS_ANALYTICS = {**settings.USEROPS_ANALYTICS, "ROLLUP_OVERLAP_MINUTES": 0}
    before = _dau(MARCH)
    ActivityEventFactory(member=programme["c"], kind=ActivityKind.LOGIN, occurred_at=local(2026, 3, 1, 0, 0, 0), recorded_at=timezone.now())
    result = services.rollup_run()
    assert result.days == [date(2026, 3, 1)]  # only the late event's day is rebuilt
    after = _dau(MARCH)
    assert after[date(2026, 3, 1)] == before[date(2026, 3, 1)] + 1
    assert selectors.monthly_activity(f=MARCH).rows[0][1] == 3
    snapshot = _snapshot()
    services.rollup_run()  # nothing new: the same numbers
    assert _snapshot() == snapshot
    services.rollup_run(full=True)  # rebuilt from scratch: the same numbers
    assert _snapshot() == snapshot


def _snapshot() -> list:
    return [
        sorted(
            DailyMetric.objects.values_list("day", "tier_id", "city", "channel", "active_members", "new_members", "purchases", "revenue")
        ),
        sorted(PeriodMetric.objects.values_list("kind", "start", "tier_id", "city", "active_members", "purchasers", "repeat_purchasers")),
        sorted(DailyMemberActivity.objects.values_list("day", "member_id", "events", "revenue")),
    ]


def test_members_with_no_activity_only_appear_as_members(db: None) -> None:
    MemberFactory(joined_at=local(2026, 3, 5, 12))
    services.rollup_run()
    assert sum(_dau(MARCH).values()) == 0
    assert selectors.daily_activity(f=MARCH).headline["new_members"] == 1
    assert selectors.monthly_activity(f=MARCH).rows[0][3] is None  # no stickiness without MAU


def test_ltv_by_tier_reads_the_rfm_scores(programme: dict) -> None:
    services.rfm_score_members(now=local(2026, 4, 1, 12))
    rows = {row[0]: row[1:] for row in selectors.ltv_by_tier(f=MARCH).rows}
    basic, silver = tier("basic").name, tier("silver").name
    assert rows[basic] == [3, Decimal("150.00"), Decimal("50.00")]  # A 150, C 0, D 0
    assert rows[silver] == [1, Decimal("30.00"), Decimal("30.00")]


def test_range_default_is_last_90_days() -> None:
    f = selectors.metric_filter_from({})
    assert (f.end - f.start).days == 89


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2026-13-01"}, "invalid_date"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "invalid_range"),
        ({"channel": "x"}, "invalid_channel"),
    ],
)
def test_bad_filters_are_refused(params: dict, code: str) -> None:
    from apps.core.errors import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        selectors.metric_filter_from(params)
    assert caught.value.code == code


def test_days_are_shanghai_days_near_utc_midnight(db: None) -> None:
    member = MemberFactory(joined_at=local(2026, 1, 1, 12))
    ActivityEventFactory(member=member, occurred_at=local(2026, 3, 3, 7, 59))  # 23:59 UTC on 03-02
    ActivityEventFactory(member=member, occurred_at=local(2026, 3, 3, 8, 0))  # 00:00 UTC on 03-03
    services.rollup_run()
    assert list(DailyMemberActivity.objects.values_list("day", "events")) == [(date(2026, 3, 3), 2)]
