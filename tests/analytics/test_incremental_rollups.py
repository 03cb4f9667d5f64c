"""The incremental roll-up re-aggregates only the (day, member) cells new events touch, and its rows are those of a
full rebuild: late events scattered over the year, a member's first and repeat purchase in a period, new members."""

import random
from datetime import date, timedelta

import pytest
from django.db import connection

from apps.analytics import services
from apps.analytics.models import ActivityKind, CohortActivity, DailyMemberActivity, DailyMetric, PeriodMetric, RollupState
from tests.analytics.factories import ActivityEventFactory, local, purchase, survey
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def every_row() -> dict[str, list]:
    def rows(model: type, *exclude: str) -> list:
        names = [f.name for f in model._meta.concrete_fields if f.name not in ("id", *exclude)]
        return sorted(model.objects.values_list(*names))

    return {
        "member days": rows(DailyMemberActivity),
        "daily": rows(DailyMetric),
        "periods": rows(PeriodMetric),
        "cohorts": rows(CohortActivity),
    }


def raw_daily_active() -> dict[date, int]:
    """Distinct members per local day straight from the events."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (occurred_at AT TIME ZONE 'Asia/Shanghai')::date, count(DISTINCT member_id) FROM analytics_activityevent GROUP BY 1"
        )
        return dict(cursor.fetchall())


def rolled_daily_active() -> dict[date, int]:
    totals: dict[date, int] = {}
    for day, active in DailyMetric.objects.filter(active_members__gt=0).values_list("day", "active_members"):
        totals[day] = totals.get(day, 0) + active
    return totals


@pytest.fixture
def year_of_activity() -> list:
    """Six members in three slices, active on random days of 2025, rolled up."""
    rng = random.Random(19)
    members = [
        MemberFactory(joined_at=local(2024, 12, 1 + n, 9), city=city, tier=tier(level))
        for n, (city, level) in enumerate([("上海", "basic"), ("北京", "silver"), ("上海", "silver")] * 2)
    ]
    for _ in range(120):
        member = rng.choice(members)
        at = local(2025, 1, 1, 8) + timedelta(days=rng.randrange(365), minutes=rng.randrange(24 * 60))
        if rng.random() < 0.4:
            purchase(member, at, f"{rng.randrange(1, 500)}.{rng.randrange(100):02d}")
        elif rng.random() < 0.2:
            survey(member, at, rng.randrange(11))
        else:
            ActivityEventFactory(member=member, occurred_at=at, kind=rng.choice([ActivityKind.LOGIN, ActivityKind.BENEFIT_REDEMPTION]))
    services.rollup_run()
    return members


def test_late_events_scattered_over_the_year_roll_up_to_a_full_rebuild(year_of_activity: list, settings: object) -> None:
    settings.USEROPS_ANALYTICS = {**settings.USEROPS_ANALYTICS, "ROLLUP_OVERLAP_MINUTES": 0}
    rng = random.Random(7)
    late_days = set()
    for n in range(25):
        at = local(2025, 1, 1, 0, 30) + timedelta(days=rng.randrange(365), hours=rng.randrange(24))
        member = year_of_activity[n % len(year_of_activity)]
        if n % 3:
            purchase(member, at, "19.90")
        else:
            ActivityEventFactory(member=member, occurred_at=at, kind=ActivityKind.APP_OPEN)
        late_days.add(at.date())  # a Shanghai wall-clock time: its date is the local day
    result = services.rollup_run()
    assert set(result.days) == late_days  # the late events' days, nothing else
    incremental = every_row()
    assert rolled_daily_active() == raw_daily_active()
    services.rollup_run(full=True)
    assert every_row() == incremental


def test_a_second_purchase_in_the_month_makes_a_repeat_purchaser_and_a_new_member_counts(year_of_activity: list) -> None:
    newcomer = MemberFactory(joined_at=local(2025, 6, 3, 10), city="深圳")
    buyer = year_of_activity[0]
    purchase(buyer, local(2025, 6, 1, 12), "10.00")
    purchase(buyer, local(2025, 6, 30, 23, 59), "20.00")
    purchase(newcomer, local(2025, 6, 3, 11), "30.00")
    result = services.rollup_run()
    assert date(2025, 6, 3) in result.days
    incremental = every_row()
    assert DailyMetric.objects.get(day=date(2025, 6, 3), city="深圳").new_members == 1
    june = PeriodMetric.objects.filter(kind="month", start=date(2025, 6, 1), city=buyer.city, tier_id=buyer.tier_id).get()
    assert june.repeat_purchasers >= 1
    services.rollup_run(full=True)
    assert every_row() == incremental


def test_nothing_new_changes_nothing_and_the_watermark_is_the_last_event(year_of_activity: list, settings: object) -> None:
    settings.USEROPS_ANALYTICS = {**settings.USEROPS_ANALYTICS, "ROLLUP_OVERLAP_MINUTES": 0}
    before = every_row()
    assert services.rollup_run().days == []
    assert every_row() == before
    state = RollupState.objects.get(name="activity")
    assert state.last_event_id == max(e.pk for m in year_of_activity for e in m.activity_events.all())


def test_a_full_rebuild_in_one_pass_writes_the_rows_of_rebuilding_every_day(year_of_activity: list) -> None:
    MemberFactory(joined_at=local(2025, 3, 3, 10), city="深圳")  # a day with a new member and no activity
    purchase(year_of_activity[1], local(2025, 12, 31, 23, 30), "88.00")  # the last local day of a month, late in the evening
    result = services.rollup_run(full=True)
    rebuilt = every_row()
    assert all(rebuilt.values())
    assert DailyMetric.objects.get(day=date(2025, 3, 3), city="深圳").new_members == 1
    for model in (DailyMemberActivity, DailyMetric, PeriodMetric, CohortActivity):
        model.objects.all().delete()
    services.rollup_days(days=result.days)
    assert every_row() == rebuilt
    assert result.days == sorted(DailyMetric.objects.values_list("day", flat=True).distinct())


def test_a_full_rebuild_drops_the_rows_of_events_no_longer_there(year_of_activity: list) -> None:
    DailyMemberActivity.objects.create(
        day=date(2019, 1, 1), member=year_of_activity[0], tier_id=year_of_activity[0].tier_id, city="x", channel="x", events=3
    )
    services.rollup_run(full=True)
    assert not DailyMemberActivity.objects.filter(day=date(2019, 1, 1)).exists()
    assert rolled_daily_active() == raw_daily_active()
