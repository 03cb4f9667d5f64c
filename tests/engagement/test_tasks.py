"""Task progress from activity batches: each goal type, windows and resets, streak breaks, eligibility, the reward paid
once per member per window, and refusals of tasks that make no sense."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.analytics.services import activity_record
from apps.benefits import services as benefit_services
from apps.benefits.models import PERMANENT_UNTIL, Grant, GrantSource
from apps.campaigns.models import Segment
from apps.core.errors import ApplicationError
from apps.engagement import services
from apps.engagement.models import TaskCompletion, TaskGoal, TaskProgress, TaskStatus, TaskWindow
from apps.members.models import GrowthEntry, MemberStatus, PointsAccount, PointsEntry
from tests.benefits.factories import BenefitFactory
from tests.engagement.factories import BadgeFactory, TaskFactory, activity, local
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def balance(member) -> int:
    return PointsAccount.objects.get(member=member).balance


def test_count_goal_completes_on_the_nth_activity_and_pays_every_reward_once():
    badge = BadgeFactory()
    coupon = BenefitFactory()
    task = TaskFactory(target=3, reward_points=200, reward_growth=50, reward_benefit=coupon, reward_badge=badge)
    member = MemberFactory()
    assert services.task_progress_record([activity(member), activity(member)]) == {}
    assert TaskProgress.objects.get(task=task, member=member).value == 2 and balance(member) == 0
    third = activity(member)
    assert services.task_progress_record([third, activity(member, kind="sign_in")]) == {third.pk: 200}
    assert balance(member) == 200
    assert GrowthEntry.objects.get(member=member).amount == 50
    assert benefit_services.grants_pending_issue().issued == 2
    grants = Grant.objects.filter(member=member, source=GrantSource.TASK)
    assert {g.benefit_id for g in grants} == {coupon.pk, badge.pk}
    assert grants.get(benefit=badge).valid_until == PERMANENT_UNTIL
    completion = TaskCompletion.objects.get(task=task, member=member)
    assert (completion.points, completion.growth, completion.badge_id) == (200, 50, badge.pk)
    # More of the same activity in the same window pays nothing more.
    assert services.task_progress_record([activity(member), activity(member)]) == {}
    assert balance(member) == 200 and TaskCompletion.objects.count() == 1 and grants.count() == 2
    assert PointsEntry.objects.get(account__member=member).source_ref == f"task:{task.pk}:2000-01-01"


def test_once_goal_and_other_members_untouched():
    task = TaskFactory(goal=TaskGoal.ONCE, target=1, activity_kind="profile_completed", reward_points=50)
    member, other = MemberFactory(), MemberFactory()
    services.task_progress_record([activity(member, kind="profile_completed"), activity(other, kind="event_attendance")])
    assert TaskCompletion.objects.get(task=task).member_id == member.pk
    assert not TaskProgress.objects.filter(member=other).exists() and balance(other) == 0


def test_monthly_window_resets_progress_and_pays_again_next_month():
    task = TaskFactory(target=2, window=TaskWindow.MONTH, reward_points=10)
    member = MemberFactory()
    services.task_progress_record([activity(member, at=local(2026, 11, 30)), activity(member, at=local(2026, 12, 1))])
    assert not TaskCompletion.objects.exists()
    assert sorted(TaskProgress.objects.values_list("window_start", "value")) == [(date(2026, 11, 1), 1), (date(2026, 12, 1), 1)]
    services.task_progress_record([activity(member, at=local(2026, 12, 20))])
    services.task_progress_record([activity(member, at=local(2027, 1, 2)), activity(member, at=local(2027, 1, 3))])
    assert sorted(TaskCompletion.objects.filter(task=task).values_list("window_start", flat=True)) == [date(2026, 12, 1), date(2027, 1, 1)]
    assert balance(member) == 20


def test_quarter_and_week_windows_use_local_days():
    quarter = TaskFactory(target=5, window=TaskWindow.QUARTER)
    week = TaskFactory(target=5, window=TaskWindow.WEEK)
    member = MemberFactory()
    # 2026-12-31 23:30 in Shanghai is still the fourth quarter although it is 15:30 UTC; 2027-01-01 00:30 local is not.
    services.task_progress_record(
        [activity(member, at=local(2026, 12, 31, 23).replace(minute=30)), activity(member, at=local(2027, 1, 1, 0).replace(minute=30))]
    )
    assert sorted(TaskProgress.objects.filter(task=quarter).values_list("window_start", flat=True)) == [date(2026, 10, 1), date(2027, 1, 1)]
    # Thursday 31 December and Friday 1 January are one Monday-started week.
    assert list(TaskProgress.objects.filter(task=week).values_list("window_start", "value")) == [(date(2026, 12, 28), 2)]


def test_fixed_window_ignores_days_outside_it():
    task = TaskFactory(target=1, window=TaskWindow.FIXED, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 31))
    member = MemberFactory()
    services.task_progress_record([activity(member, at=local(2026, 11, 30)), activity(member, at=local(2027, 1, 1))])
    assert not TaskProgress.objects.filter(task=task).exists()
    services.task_progress_record([activity(member, at=local(2026, 12, 15))])
    assert TaskCompletion.objects.get(task=task).window_start == date(2026, 12, 1)


def test_streak_counts_consecutive_local_days_and_a_missed_day_breaks_it():
    task = TaskFactory(goal=TaskGoal.STREAK, activity_kind="sign_in", target=3, reward_points=30)
    member = MemberFactory()
    services.task_progress_record([activity(member, "sign_in", local(2026, 12, 1)), activity(member, "sign_in", local(2026, 12, 2))])
    # Two events on one day count once; 4 December after a missed 3rd starts again at 1.
    services.task_progress_record([activity(member, "sign_in", local(2026, 12, 2, 20)), activity(member, "sign_in", local(2026, 12, 4))])
    progress = TaskProgress.objects.get(task=task)
    assert (progress.value, progress.best_streak, progress.last_day) == (1, 2, date(2026, 12, 4))
    assert not TaskCompletion.objects.exists()
    services.task_progress_record([activity(member, "sign_in", local(2026, 12, 5)), activity(member, "sign_in", local(2026, 12, 6))])
    assert TaskCompletion.objects.get(task=task).member_id == member.pk and balance(member) == 30


def test_only_members_of_the_tiers_and_segment_progress():
    gold = tier("gold")
    by_tier = TaskFactory(target=1)
    by_tier.tiers.set([gold])
    segment = Segment.objects.create(name="上海", rules={"field": "city", "value": ["上海"]})
    by_segment = TaskFactory(target=1, segment=segment)
    gold_member = MemberFactory(tier=gold, city="北京")
    shanghai = MemberFactory(city="上海")
    services.task_progress_record([activity(gold_member), activity(shanghai)])
    assert set(TaskCompletion.objects.values_list("task_id", "member_id")) == {(by_tier.pk, gold_member.pk), (by_segment.pk, shanghai.pk)}


def test_paused_tasks_and_inactive_members_do_not_progress():
    task = TaskFactory(target=1, status=TaskStatus.PAUSED)
    frozen = MemberFactory(status=MemberStatus.FROZEN)
    member = MemberFactory()
    services.task_progress_record([activity(member), activity(frozen)])
    assert not TaskProgress.objects.exists()
    services.task_activate(task=task)
    services.task_progress_record([activity(member), activity(frozen)])
    assert list(TaskCompletion.objects.values_list("member_id", flat=True)) == [member.pk]
    with pytest.raises(ApplicationError) as refused:
        services.task_activate(task=task)
    assert refused.value.code == "invalid_transition"


def test_a_paused_reward_benefit_keeps_its_grant_back_but_the_rest_is_paid():
    coupon = BenefitFactory(status="paused")
    TaskFactory(target=1, reward_points=40, reward_benefit=coupon)
    member = MemberFactory()
    services.task_progress_record([activity(member)])
    assert benefit_services.grants_pending_issue().handled == 1
    assert balance(member) == 40 and TaskCompletion.objects.count() == 1 and not Grant.objects.exists()


def test_a_batch_costs_a_fixed_number_of_queries_whatever_its_size():
    TaskFactory(target=1000)
    TaskFactory(goal=TaskGoal.STREAK, activity_kind="sign_in", target=100)

    def queries(size: int) -> int:
        members = MemberFactory.create_batch(size)
        events = [activity(m) for m in members] + [activity(m, "sign_in") for m in members]
        with CaptureQueriesContext(connection) as captured:
            services.task_progress_record(events)
        return len(captured)

    assert queries(5) == queries(40)


def test_the_handler_runs_where_activity_is_stored():
    TaskFactory(goal=TaskGoal.ONCE, target=1, activity_kind="profile_completed", reward_points=25)
    member = MemberFactory()
    assert activity_record(member_id=member.pk, kind="profile_completed", event_id="p-1", occurred_at=local(2026, 12, 1))
    assert not activity_record(member_id=member.pk, kind="profile_completed", event_id="p-1", occurred_at=local(2026, 12, 1))
    assert balance(member) == 25 and TaskCompletion.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"goal": TaskGoal.ONCE, "target": 3}, "target"),
        ({"window": TaskWindow.FIXED, "starts_on": None, "ends_on": None}, "starts_on"),
        ({"starts_on": date(2026, 12, 2), "ends_on": date(2026, 12, 1)}, "ends_on"),
        ({"reward_points": 0}, "reward_points"),
        ({"goal": TaskGoal.STREAK, "window": TaskWindow.WEEK, "target": 8}, "target"),
    ],
)
def test_a_task_that_makes_no_sense_is_refused_naming_the_field(fields, field):
    task = TaskFactory.build(**fields)
    with pytest.raises(ApplicationError) as refused:
        services.task_save(task=task)
    assert refused.value.code == "invalid_task" and field in refused.value.fields
    assert not task.pk


def test_a_badge_reward_must_be_a_badge_and_the_goal_is_frozen_once_members_progress():
    task = TaskFactory.build(reward_badge=BenefitFactory())
    with pytest.raises(ApplicationError) as refused:
        services.task_save(task=task)
    assert "reward_badge" in refused.value.fields
    task = TaskFactory(target=5)
    services.task_progress_record([activity(MemberFactory())])
    task.target = 2
    with pytest.raises(ApplicationError) as refused:
        services.task_save(task=task)
    assert "target" in refused.value.fields
    task.target, task.title = 5, "Attend five events"
    services.task_save(task=task)
    assert task.history.count() == 2


def test_a_monthly_streak_starts_again_with_the_month_and_pays_once_a_month():
    task = TaskFactory(goal=TaskGoal.STREAK, activity_kind="sign_in", target=3, window=TaskWindow.MONTH, reward_points=9)
    member = MemberFactory()
    # 30 November and 1–2 December are three days in a row, but December's window counts only two of them.
    services.task_progress_record([activity(member, "sign_in", local(2026, 11, day)) for day in (29, 30)])
    services.task_progress_record([activity(member, "sign_in", local(2026, 12, day)) for day in (1, 2)])
    assert not TaskCompletion.objects.exists()
    services.task_progress_record([activity(member, "sign_in", local(2026, 12, day)) for day in (3, 4, 5)])
    assert TaskCompletion.objects.get(task=task).window_start == date(2026, 12, 1) and balance(member) == 9
    services.task_progress_record([activity(member, "sign_in", local(2027, 1, day)) for day in (1, 2, 3)])
    assert TaskCompletion.objects.filter(task=task).count() == 2 and balance(member) == 18
