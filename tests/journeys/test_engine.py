"""The journey engine: entries of each kind, re-entry, waits, branches, actions, exits, versions and transitions."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.analytics.models import ActivityKind
from apps.benefits.models import Grant
from apps.core.errors import ApplicationError
from apps.journeys import services
from apps.journeys.models import EnrolmentState, JourneyStatus, ReentryPolicy, StepOutcome, StepRun
from apps.journeys.steps import StepSpec, wait_until
from apps.lifecycle.models import StageChange, StageDimension
from apps.members.models import MemberStatus, PointsAccount, Tier, TierChangeKind
from apps.messaging.models import Message
from tests.analytics.factories import ActivityEventFactory
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import SegmentFactory
from tests.journeys.factories import branch, running_journey, wait
from tests.members.factories import ConsentFactory, MemberFactory, TagFactory, TierChangeFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
TAG = StepSpec("tag", {"tag": "journey-test"})


def tagged_segment() -> object:
    return SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["vip-lead"]}]})


def members_with_tag(count: int, tag: str = "vip-lead") -> list:
    members = MemberFactory.create_batch(count)
    the_tag = TagFactory(name=tag)
    for member in members:
        member.tags.add(the_tag)
    return members


def states(journey: object) -> dict[int, str]:
    return dict(journey.enrolments.values_list("member_id", "state"))


# Entry ------------------------------------------------------------------------------------------


def test_a_segment_entry_admits_its_members_once_and_leaves_closed_members_out():
    inside = members_with_tag(3)
    closed = members_with_tag(1)[0]
    closed.status = MemberStatus.CLOSED
    closed.save()
    MemberFactory()
    journey = running_journey([TAG], entry_segment=tagged_segment())

    assert services.journey_tick(journey_id=journey.pk).entered == 3
    assert services.journey_tick(journey_id=journey.pk).entered == 0
    assert set(states(journey)) == {m.pk for m in inside}
    assert set(states(journey).values()) == {EnrolmentState.COMPLETED}
    assert all(m.tags.filter(name="journey-test").exists() for m in inside)


def test_an_event_entry_admits_members_of_new_events_matching_the_properties():
    journey = running_journey(
        [wait(days=1)],
        entry_kind="event",
        entry_segment=None,
        entry_activity_kind=ActivityKind.TEST_DRIVE_COMPLETED,
        entry_properties={"dealer": "SH001"},
    )
    before = ActivityEventFactory(kind=ActivityKind.TEST_DRIVE_COMPLETED, properties={"dealer": "SH001"})
    before.recorded_at = journey.started_at - timedelta(minutes=1)
    before.save()
    matching = ActivityEventFactory(kind=ActivityKind.TEST_DRIVE_COMPLETED, properties={"dealer": "SH001", "model": "ES6"})
    ActivityEventFactory(kind=ActivityKind.TEST_DRIVE_COMPLETED, properties={"dealer": "BJ002"})
    ActivityEventFactory(kind=ActivityKind.APP_OPEN, properties={"dealer": "SH001"})

    assert services.journey_tick(journey_id=journey.pk).entered == 1
    assert list(states(journey)) == [matching.member_id]
    # The cursor moved: the same event does not admit the member again, a later one is read.
    assert services.journey_tick(journey_id=journey.pk).entered == 0


def test_a_lifecycle_entry_follows_new_stage_changes_into_the_stage():
    journey = running_journey([wait(days=1)], entry_kind="lifecycle", entry_segment=None, entry_stage="dormant")
    dormant, growing = MemberFactory(), MemberFactory()
    StageChange.objects.create(member=dormant, dimension=StageDimension.LIFECYCLE, from_stage="mature", to_stage="dormant", reason="r")
    StageChange.objects.create(member=growing, dimension=StageDimension.LIFECYCLE, from_stage="new", to_stage="growing", reason="r")
    StageChange.objects.create(member=growing, dimension=StageDimension.JOURNEY, from_stage="intent", to_stage="dormant", reason="r")

    services.journey_tick(journey_id=journey.pk)

    assert list(states(journey)) == [dormant.pk]


def test_a_tier_promotion_entry_follows_new_promotions():
    journey = running_journey([wait(days=1)], entry_kind="tier_promotion", entry_segment=None)
    promoted, demoted = MemberFactory(), MemberFactory()
    gold = Tier.objects.order_by("-rank").first()
    TierChangeFactory(member=promoted, to_tier=gold, kind=TierChangeKind.PROMOTION)
    TierChangeFactory(member=demoted, to_tier=gold, kind=TierChangeKind.DEMOTION)

    services.journey_tick(journey_id=journey.pk)

    assert list(states(journey)) == [promoted.pk]


@pytest.mark.parametrize(
    ("policy", "days", "entries_after_leaving", "entries_later"),
    [(ReentryPolicy.NEVER, None, 1, 1), (ReentryPolicy.ALWAYS, None, 2, 3), (ReentryPolicy.AFTER_DAYS, 7, 1, 2)],
)
def test_members_re_enter_only_as_configured(policy, days, entries_after_leaving, entries_later):
    member = members_with_tag(1)[0]
    journey = running_journey([TAG], entry_segment=tagged_segment(), reentry=policy, reentry_days=days)
    now = timezone.now()
    services.journey_tick(journey_id=journey.pk, now=now)  # enters and completes at once
    services.journey_tick(journey_id=journey.pk, now=now + timedelta(minutes=1))
    assert journey.enrolments.filter(member=member).count() == entries_after_leaving
    services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=8))
    assert journey.enrolments.filter(member=member).count() == entries_later
    assert journey.enrolments.filter(member=member, state__in=["active", "held_out"]).count() <= 1


def test_a_holdout_share_is_entered_but_takes_no_step():
    members_with_tag(100)
    journey = running_journey([TAG], entry_segment=tagged_segment(), holdout_percent=20)
    services.journey_tick(journey_id=journey.pk)
    held = journey.enrolments.filter(in_holdout=True)
    assert 5 <= held.count() <= 40
    assert set(held.values_list("state", flat=True)) == {EnrolmentState.HELD_OUT}
    assert not StepRun.objects.filter(enrolment__in=held).exists()
    assert journey.enrolments.filter(in_holdout=False, state=EnrolmentState.COMPLETED).count() == 100 - held.count()


# Waits ------------------------------------------------------------------------------------------


def test_a_duration_wait_holds_members_until_it_ends():
    member = members_with_tag(1)[0]
    journey = running_journey([wait(days=2), TAG], entry_segment=tagged_segment())
    now = timezone.now()
    services.journey_tick(journey_id=journey.pk, now=now)
    services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=1, hours=23))
    assert states(journey) == {member.pk: EnrolmentState.ACTIVE}
    services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=2))
    assert states(journey) == {member.pk: EnrolmentState.COMPLETED}
    assert list(StepRun.objects.order_by("step__position").values_list("outcome", flat=True)) == [StepOutcome.PASSED, StepOutcome.DONE]


def test_a_weekday_wait_ends_at_the_next_such_weekday_and_local_time():
    params = {"weekday": 0, "time": "10:00"}  # Monday 10:00 in Shanghai
    wednesday = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    assert wait_until(params, wednesday) == datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
    monday_early = datetime(2026, 12, 7, 9, 59, tzinfo=SHANGHAI)
    assert wait_until(params, monday_early) == datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
    monday_late = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
    assert wait_until(params, monday_late) == datetime(2026, 12, 14, 10, 0, tzinfo=SHANGHAI)


def test_a_weekday_wait_in_a_journey():
    members_with_tag(1)
    journey = running_journey([StepSpec("wait", {"weekday": 0, "at_time": "10:00"}), TAG], entry_segment=tagged_segment())
    wednesday = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    services.journey_tick(journey_id=journey.pk, now=wednesday)
    assert journey.enrolments.get().due_at == datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
    services.journey_tick(journey_id=journey.pk, now=datetime(2026, 12, 7, 9, 59, tzinfo=SHANGHAI))
    assert journey.enrolments.get().state == EnrolmentState.ACTIVE
    services.journey_tick(journey_id=journey.pk, now=datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))
    assert journey.enrolments.get().state == EnrolmentState.COMPLETED


# Branches ---------------------------------------------------------------------------------------


def test_an_activity_branch_sends_each_member_down_its_path():
    booked, other = members_with_tag(2)
    steps = [wait(hours=1), branch("activity", "test_drive_booked", yes_next=4), StepSpec("tag", {"tag": "no-path"})]
    journey = running_journey([*steps, StepSpec("tag", {"tag": "yes-path"})], entry_segment=tagged_segment())
    now = timezone.now()
    services.journey_tick(journey_id=journey.pk, now=now)
    old = ActivityEventFactory(member=other, kind=ActivityKind.TEST_DRIVE_BOOKED, occurred_at=now - timedelta(days=3))
    ActivityEventFactory(member=booked, kind=ActivityKind.TEST_DRIVE_BOOKED, occurred_at=now + timedelta(minutes=5))
    services.journey_tick(journey_id=journey.pk, now=now + timedelta(hours=1))

    assert old.occurred_at < now
    assert set(booked.tags.values_list("name", flat=True)) == {"vip-lead", "yes-path"}
    assert set(other.tags.values_list("name", flat=True)) == {"vip-lead", "no-path", "yes-path"}
    outcomes = dict(StepRun.objects.filter(step__kind="branch").values_list("member_id", "outcome"))
    assert outcomes == {booked.pk: StepOutcome.YES, other.pk: StepOutcome.NO}


@pytest.mark.parametrize("condition", ["tier", "consent", "lifecycle_stage", "segment"])
def test_member_condition_branches(condition):
    yes_member, no_member = members_with_tag(2)
    gold = Tier.objects.order_by("-rank").first()
    if condition == "tier":
        yes_member.tier = gold
        yes_member.save()
        value = gold.code
    elif condition == "consent":
        ConsentFactory(member=yes_member, channel="sms", granted=True)
        ConsentFactory(member=no_member, channel="sms", granted=False)
        value = "sms"
    elif condition == "lifecycle_stage":
        from apps.lifecycle.models import MemberStage

        MemberStage.objects.create(member=yes_member, lifecycle_stage="mature")
        MemberStage.objects.create(member=no_member, lifecycle_stage="dormant")
        value = "mature"
    else:
        value = str(SegmentFactory(rules={"op": "and", "conditions": [{"field": "city", "value": ["杭州"]}]}).pk)
        yes_member.city = "杭州"
        yes_member.save()
    journey = running_journey([branch(condition, value)], entry_segment=tagged_segment())
    services.journey_tick(journey_id=journey.pk)
    outcomes = dict(StepRun.objects.values_list("member_id", "outcome"))
    assert outcomes == {yes_member.pk: StepOutcome.YES, no_member.pk: StepOutcome.NO}


# Actions ----------------------------------------------------------------------------------------


def test_actions_message_grant_and_award_once_each_per_member():
    members = members_with_tag(3)
    for member in members[:2]:
        ConsentFactory(member=member, channel="sms", granted=True)
    MessageTemplateFactory(code="follow_up", channel="sms")
    benefit = BenefitFactory()
    journey = running_journey(
        [
            StepSpec("message", {"template_code": "follow_up", "channel": "sms"}),
            StepSpec("benefit", {"benefit": benefit.pk}),
            StepSpec("points", {"points": 200}),
        ],
        entry_segment=tagged_segment(),
    )
    services.journey_tick(journey_id=journey.pk)
    services.journey_tick(journey_id=journey.pk)

    assert Message.objects.filter(dedupe_key__startswith=f"journey:{journey.pk}:").count() == 2  # consent honoured
    assert Grant.objects.filter(benefit=benefit).count() == 3
    assert sorted(PointsAccount.objects.filter(member__in=members).values_list("balance", flat=True)) == [200, 200, 200]
    assert StepRun.objects.filter(outcome=StepOutcome.DONE).count() == 9


# Exits ------------------------------------------------------------------------------------------


def test_the_goal_converts_and_the_timeout_times_out_members_still_inside():
    ordered, idle, held = members_with_tag(3)
    journey = running_journey([wait(days=10), TAG], entry_segment=tagged_segment(), goal_activity_kind="order_placed", timeout_days=5)
    now = timezone.now()
    services.journey_tick(journey_id=journey.pk, now=now)
    journey.enrolments.filter(member=held).update(in_holdout=True, state=EnrolmentState.HELD_OUT, step=None, due_at=None)
    ActivityEventFactory(member=ordered, kind=ActivityKind.ORDER_PLACED, occurred_at=now + timedelta(days=1))
    ActivityEventFactory(member=held, kind=ActivityKind.ORDER_PLACED, occurred_at=now + timedelta(days=1))
    result = services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=2))
    assert (result.converted, result.timed_out) == (2, 0)
    result = services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=5))
    assert (result.converted, result.timed_out) == (0, 1)
    assert states(journey) == {ordered.pk: "converted", held.pk: "converted", idle.pk: "timed_out"}
    assert not StepRun.objects.exists()


# Versions and transitions -----------------------------------------------------------------------


def test_editing_a_running_journey_makes_a_version_for_new_entrants_only():
    first = members_with_tag(1)[0]
    journey = running_journey([wait(days=1), StepSpec("tag", {"tag": "v1"})], entry_segment=tagged_segment())
    now = timezone.now()
    services.journey_tick(journey_id=journey.pk, now=now)
    v2 = services.journey_steps_save(journey=journey, steps=[wait(days=1), StepSpec("tag", {"tag": "v2"})])
    assert v2.number == 2
    second = members_with_tag(1)[0]
    services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=2))
    services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=4))

    assert first.tags.filter(name="v1").exists() and not first.tags.filter(name="v2").exists()
    assert second.tags.filter(name="v2").exists() and not second.tags.filter(name="v1").exists()
    # Editing before anyone entered on the version replaces its steps instead.
    assert services.journey_steps_save(journey=journey, steps=[TAG]).number == 3
    assert services.journey_steps_save(journey=journey, steps=[wait(days=1)]).number == 3


def test_pause_holds_everyone_resume_continues_and_stop_exits_everyone():
    members_with_tag(2)
    journey = running_journey([wait(days=1), TAG], entry_segment=tagged_segment())
    now = timezone.now()
    services.journey_tick(journey_id=journey.pk, now=now)
    services.journey_pause(journey=journey)
    assert services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=2)).processed == 0
    with pytest.raises(ApplicationError) as refused:
        services.journey_pause(journey=journey)
    assert refused.value.code == "invalid_status"
    services.journey_resume(journey=journey)
    members_with_tag(1)
    assert services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=2)).processed == 4  # two waits, two tags
    services.journey_stop(journey=journey)
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.STOPPED
    assert set(states(journey).values()) == {EnrolmentState.COMPLETED, EnrolmentState.EXITED}
    assert services.journey_tick(journey_id=journey.pk, now=now + timedelta(days=5)).processed == 0


def test_events_reported_while_paused_enter_once_resumed():
    journey = running_journey([wait(days=1)], entry_kind="event", entry_segment=None, entry_activity_kind=ActivityKind.TEST_DRIVE_COMPLETED)
    services.journey_pause(journey=journey)
    event = ActivityEventFactory(kind=ActivityKind.TEST_DRIVE_COMPLETED)
    assert services.journey_tick(journey_id=journey.pk).entered == 0
    services.journey_resume(journey=journey)
    assert services.journey_tick(journey_id=journey.pk).entered == 1
    assert list(states(journey)) == [event.member_id]
