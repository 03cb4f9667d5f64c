from datetime import date
from decimal import Decimal

import pytest

from apps.analytics import services
from apps.analytics.models import RfmScore, RfmSegment
from apps.campaigns.selectors import rules_members
from tests.analytics.factories import ActivityEventFactory, local, purchase
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db
NOW = local(2026, 6, 30, 12)


@pytest.fixture
def scored() -> list:
    """Member i (1..5) bought i times, the last time on June i×5, for i×100 yuan each: quintile i on R, F and M."""
    members = []
    for i in range(1, 6):
        member = MemberFactory(joined_at=local(2025, 1, 1, 12))
        for n in range(i):
            purchase(member, local(2026, 6, i * 5 - n, 12), f"{i * 100}.00")
        members.append(member)
    idle = MemberFactory(joined_at=local(2025, 1, 1, 12))
    ActivityEventFactory(member=idle, occurred_at=local(2026, 6, 1, 12))
    old = MemberFactory(joined_at=local(2024, 1, 1, 12))
    purchase(old, local(2025, 1, 1, 12), "999.00")  # outside the 365-day window
    services.rollup_run()
    assert services.rfm_score_members(now=NOW) == 7
    return [*members, idle, old]


def test_quintiles_and_segments(scored: list) -> None:
    scores = {s.member_id: s for s in RfmScore.objects.all()}
    for i, member in enumerate(scored[:5], start=1):
        s = scores[member.pk]
        assert (s.recency, s.frequency, s.monetary) == (i, i, i)
        assert s.purchases == i and s.revenue == Decimal(i * i * 100)
        assert s.last_purchase_day == date(2026, 6, i * 5)
    segments = [scores[m.pk].segment for m in scored]
    assert segments == [
        RfmSegment.LOST,
        RfmSegment.HIBERNATING,
        RfmSegment.LOYAL,
        RfmSegment.CHAMPIONS,
        RfmSegment.CHAMPIONS,
        RfmSegment.NO_PURCHASE,
        RfmSegment.NO_PURCHASE,
    ]
    assert scores[scored[6].pk].lifetime_revenue == Decimal("999.00")
    assert scores[scored[5].pk].last_active_day == date(2026, 6, 1)


def test_rescoring_replaces_and_ties_share_a_score(scored: list) -> None:
    twin = MemberFactory(joined_at=local(2025, 1, 1, 12))
    purchase(twin, local(2026, 6, 5, 12), "100.00")  # the same as member 1
    services.rollup_run()
    services.rfm_score_members(now=NOW)
    first, twin_score = RfmScore.objects.get(member=scored[0]), RfmScore.objects.get(member=twin)
    assert (first.recency, first.frequency, first.monetary) == (twin_score.recency, twin_score.frequency, twin_score.monetary)
    assert RfmScore.objects.count() == 8


def test_segments_target_rfm_and_last_activity(scored: list) -> None:
    champions = rules_members(rules={"field": "rfm_segment", "value": ["champions"]})
    assert set(champions.values_list("pk", flat=True)) == {scored[3].pk, scored[4].pk}
    others = rules_members(
        rules={"op": "and", "conditions": [{"field": "rfm_segment", "operator": "not_in", "value": ["champions", "no_purchase"]}]}
    )
    assert set(others.values_list("pk", flat=True)) == {m.pk for m in scored[:3]}
    recent = ActivityEventFactory(member=scored[6])
    active = rules_members(rules={"field": "last_activity", "operator": "within_days", "value": 7})
    assert list(active.values_list("pk", flat=True)) == [recent.member_id]
    inactive = rules_members(rules={"field": "last_activity", "operator": "not_within_days", "value": 7})
    assert recent.member_id not in set(inactive.values_list("pk", flat=True))


def test_bad_rfm_rule_names_the_value(db: None) -> None:
    from apps.core.errors import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        rules_members(rules={"field": "rfm_segment", "value": ["whales"]})
    assert "whales" in caught.value.message


def test_tasks_roll_up_and_score_and_are_scheduled(db: None) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from apps.analytics import tasks

    member = MemberFactory(joined_at=local(2026, 1, 1, 12))
    purchase(member, local(2026, 1, 2, 12), "10.00")
    assert tasks.rollup() >= 2  # the purchase's day and the joining day
    assert tasks.score_rfm() == 1
    call_command("setup_periodic_tasks")
    names = dict(PeriodicTask.objects.values_list("name", "task"))
    assert names["Roll up activity"] == "analytics.rollup" and names["Score members (RFM)"] == "analytics.score_rfm"
    assert "Roll up activity" in settings.USEROPS_PERIODIC_TASKS
