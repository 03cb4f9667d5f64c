"""Daily sign-in: once per local day, streaks, a missed day breaks the streak, and the activity it announces."""

from datetime import timedelta

import pytest

from apps.analytics.models import ActivityEvent
from apps.core.errors import ApplicationError
from apps.engagement import selectors, services
from apps.engagement.models import SignIn, TaskCompletion, TaskGoal
from apps.members.models import MemberStatus, PointsAccount
from tests.engagement.factories import TaskFactory, local
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_second_sign_in_the_same_local_day_answers_the_same_and_changes_nothing(django_capture_on_commit_callbacks):
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.sign_in(member=member, now=local(2026, 12, 1, 8))
    with django_capture_on_commit_callbacks(execute=True):
        again = services.sign_in(member=member, now=local(2026, 12, 1, 23))
    assert first.created and not again.created
    assert (first.day, first.streak, first.longest_streak, first.signed_in_at) == (
        again.day,
        again.streak,
        again.longest_streak,
        again.signed_in_at,
    )
    assert SignIn.objects.count() == 1
    assert ActivityEvent.objects.filter(member_id=member.pk, kind="sign_in").count() == 1


def test_local_midnight_starts_a_new_day():
    member = MemberFactory()
    # 23:59 and 00:01 in Shanghai are two days although both are the same UTC date.
    late = services.sign_in(member=member, now=local(2026, 12, 1, 23) + timedelta(minutes=59))
    early = services.sign_in(member=member, now=local(2026, 12, 2, 0) + timedelta(minutes=1))
    assert (late.day.day, early.day.day, early.streak) == (1, 2, 2)


def test_streak_grows_on_consecutive_days_and_a_missed_day_breaks_it():
    member = MemberFactory()
    for day in (1, 2, 3):
        services.sign_in(member=member, now=local(2026, 12, day))
    assert selectors.current_streak(member_id=member.pk, today=local(2026, 12, 4).date()) == 3
    assert selectors.current_streak(member_id=member.pk, today=local(2026, 12, 5).date()) == 0
    after_gap = services.sign_in(member=member, now=local(2026, 12, 5))
    assert (after_gap.streak, after_gap.longest_streak) == (1, 3)


def test_a_frozen_member_cannot_sign_in_and_an_earlier_day_is_refused():
    frozen = MemberFactory(status=MemberStatus.FROZEN)
    with pytest.raises(ApplicationError) as refused:
        services.sign_in(member=frozen, now=local(2026, 12, 1))
    assert refused.value.code == "member_not_active" and not SignIn.objects.exists()
    member = MemberFactory()
    services.sign_in(member=member, now=local(2026, 12, 2))
    with pytest.raises(ApplicationError) as refused:
        services.sign_in(member=member, now=local(2026, 12, 1))
    assert refused.value.code == "sign_in_out_of_order" and SignIn.objects.filter(member=member).count() == 1


def test_seven_days_in_a_row_complete_the_streak_task_through_the_announced_activity(django_capture_on_commit_callbacks):
    task = TaskFactory(goal=TaskGoal.STREAK, activity_kind="sign_in", target=7, reward_points=70)
    member = MemberFactory()
    for day in range(1, 8):
        with django_capture_on_commit_callbacks(execute=True):
            services.sign_in(member=member, now=local(2026, 12, day))
        assert TaskCompletion.objects.filter(task=task).exists() == (day == 7)
    assert PointsAccount.objects.get(member=member).balance == 70
