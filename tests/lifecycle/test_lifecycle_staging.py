"""The nightly lifecycle staging: each stage from behaviour, returned, missing rows, thresholds, idempotence."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.lifecycle import services
from apps.lifecycle.models import JourneyStage, LifecycleSettings, LifecycleStage, MemberStage, StageChange, StageDimension
from apps.lifecycle.tasks import compute_stages
from apps.members.models import MemberStatus
from tests.analytics.factories import local
from tests.lifecycle.factories import MemberStageFactory, active_on
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = local(2026, 12, 1, 3)  # the nightly run, 03:00 in Shanghai
TODAY = NOW.date()
DAY = timedelta(days=1)


def stage_of(member) -> str:
    return MemberStage.objects.get(member=member).lifecycle_stage


@pytest.fixture
def programme():
    members = {
        "fresh": MemberFactory(joined_at=NOW - 5 * DAY),
        "growing": MemberFactory(joined_at=NOW - 100 * DAY),
        "mature": MemberFactory(joined_at=NOW - 200 * DAY),
        "dormant": MemberFactory(joined_at=NOW - 300 * DAY),
        "churned": MemberFactory(joined_at=NOW - 400 * DAY),
        "never_active": MemberFactory(joined_at=NOW - 100 * DAY),
        "frozen": MemberFactory(joined_at=NOW - 100 * DAY, status=MemberStatus.FROZEN),
    }
    active_on(members["growing"], TODAY - 2 * DAY, events=3)
    active_on(members["growing"], TODAY - 15 * DAY, events=3, purchases=1)
    active_on(members["mature"], TODAY - 1 * DAY, events=6, purchases=1)
    active_on(members["mature"], TODAY - 80 * DAY, events=6, purchases=1)
    active_on(members["mature"], TODAY - 120 * DAY, events=50, purchases=9)  # outside the window
    active_on(members["dormant"], TODAY - 70 * DAY, events=20)
    active_on(members["churned"], TODAY - 200 * DAY, events=20)
    active_on(members["frozen"], TODAY - 3 * DAY)
    return members


def test_each_member_gets_the_stage_their_behaviour_earns(programme):
    result = services.lifecycle_stages_compute(now=NOW)
    assert {name: stage_of(member) for name, member in programme.items()} == {
        "fresh": "new",
        "growing": "growing",
        "mature": "mature",
        "dormant": "dormant",
        "churned": "churned",
        "never_active": "dormant",
        "frozen": "growing",
    }
    assert result.created == 7
    assert result.moved == {"churned": 1, "dormant": 2, "returned": 0, "new": 0, "mature": 1, "growing": 2}


def test_the_moves_are_recorded_with_their_from_stage_and_reason(programme):
    services.lifecycle_stages_compute(now=NOW)
    change = StageChange.objects.get(member=programme["churned"])
    assert (change.dimension, change.from_stage, change.to_stage, change.reason, change.changed_at) == (
        StageDimension.LIFECYCLE,
        LifecycleStage.NEW,
        LifecycleStage.CHURNED,
        services.NIGHTLY_REASON,
        NOW,
    )
    assert not StageChange.objects.filter(member=programme["fresh"]).exists()  # new stays new: no move


def test_a_missing_row_starts_as_a_prospect_and_new_since_joining(programme):
    services.lifecycle_stages_compute(now=NOW)
    row = MemberStage.objects.get(member=programme["fresh"])
    assert (row.journey_stage, row.journey_stage_since, row.lifecycle_stage_since) == (
        JourneyStage.PROSPECT,
        programme["fresh"].joined_at,
        programme["fresh"].joined_at,
    )


def test_prospects_and_closed_members_are_not_staged():
    prospect = MemberFactory(status=MemberStatus.PROSPECT, joined_at=NOW - 300 * DAY)
    closed = MemberFactory(status=MemberStatus.CLOSED, joined_at=NOW - 300 * DAY)
    services.lifecycle_stages_compute(now=NOW)
    assert not MemberStage.objects.filter(member__in=[prospect, closed]).exists()


def test_running_twice_moves_nobody_the_second_time(programme):
    services.lifecycle_stages_compute(now=NOW)
    changes = StageChange.objects.count()
    again = services.lifecycle_stages_compute(now=NOW + timedelta(minutes=5))
    assert again.created == 0
    assert set(again.moved.values()) == {0}
    assert StageChange.objects.count() == changes


def test_a_dormant_member_active_again_returns_and_stays_returned_for_the_configured_days():
    member = MemberStageFactory(
        member=MemberFactory(joined_at=NOW - 300 * DAY), lifecycle_stage=LifecycleStage.DORMANT, lifecycle_stage_since=NOW - 40 * DAY
    ).member
    active_on(member, TODAY - DAY)
    services.lifecycle_stages_compute(now=NOW)
    assert stage_of(member) == LifecycleStage.RETURNED
    assert StageChange.objects.get(member=member).from_stage == LifecycleStage.DORMANT
    later = NOW + 20 * DAY
    active_on(member, (later - DAY).date())
    services.lifecycle_stages_compute(now=later)
    assert stage_of(member) == LifecycleStage.RETURNED
    much_later = NOW + 31 * DAY
    active_on(member, (much_later - DAY).date())
    services.lifecycle_stages_compute(now=much_later)
    assert stage_of(member) == LifecycleStage.GROWING


def test_thresholds_change_the_stages(programme):
    services.lifecycle_settings_save(values={"dormant_days": 10, "churned_days": 120, "mature_min_events": 5, "mature_min_purchases": 0})
    services.lifecycle_stages_compute(now=NOW)
    assert stage_of(programme["growing"]) == LifecycleStage.MATURE  # 6 activities in the window, no purchase needed
    assert stage_of(programme["frozen"]) == LifecycleStage.GROWING  # 1 activity
    assert stage_of(programme["churned"]) == LifecycleStage.CHURNED
    assert stage_of(programme["dormant"]) == LifecycleStage.DORMANT


def test_the_management_command_stages_everyone(programme):
    call_command("compute_lifecycle_stages", "--no-rollup")
    assert MemberStage.objects.count() == len(programme)


@pytest.mark.parametrize(
    ("values", "code", "field"),
    [
        ({"dormant_days": 200}, "churn_before_dormancy", "churned_days"),
        ({"churned_days": 60}, "churn_before_dormancy", "churned_days"),
        ({"new_days": 0}, "invalid_threshold", "new_days"),
        ({"new_days": "30"}, "invalid_threshold", "new_days"),
        ({"bogus": 3}, "unknown_threshold", "bogus"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_field_and_change_nothing(values, code, field):
    with pytest.raises(ApplicationError) as refused:
        services.lifecycle_settings_save(values=values)
    assert refused.value.code == code
    assert field in refused.value.fields
    assert services.lifecycle_settings().dormant_days == LifecycleSettings().dormant_days


def test_the_defaults_hold_until_staff_save_their_own():
    defaults = services.lifecycle_settings()
    assert (defaults.new_days, defaults.dormant_days, defaults.churned_days) == (30, 60, 180)
    services.lifecycle_settings_save(values={"new_days": 14})
    assert services.lifecycle_settings().new_days == 14


def test_the_nightly_task_rolls_up_then_stages_and_beat_runs_it(settings):
    member = MemberFactory(joined_at=timezone.now() - 100 * DAY)
    moved = compute_stages()
    assert stage_of(member) == LifecycleStage.DORMANT
    assert moved["dormant"] == 1
    assert settings.USEROPS_PERIODIC_TASKS["Compute lifecycle stages"]["task"] == "lifecycle.compute_stages"
