"""Each step runs exactly once per member: across a crash mid-chunk and a re-run, and with two ticks at once."""

import pytest

from apps.benefits.models import Grant
from apps.journeys import services
from apps.journeys.models import EnrolmentState, StepRun
from apps.journeys.steps import StepSpec
from apps.members.models import PointsAccount, PointsEntry
from apps.messaging.models import Message
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import SegmentFactory
from tests.journeys.factories import running_journey
from tests.members.factories import ConsentFactory, MemberFactory, TagFactory
from tests.members.test_concurrency import run_at_once
from tests.messaging.factories import MessageTemplateFactory


def setup_members(count: int) -> list:
    tag = TagFactory(name="vip-lead")
    members = MemberFactory.create_batch(count)
    for member in members:
        member.tags.add(tag)
        ConsentFactory(member=member, channel="sms", granted=True)
    return members


def action_journey() -> object:
    MessageTemplateFactory(code="follow_up", channel="sms")
    benefit = BenefitFactory()
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["vip-lead"]}]})
    steps = [
        StepSpec("points", {"points": 200}),
        StepSpec("benefit", {"benefit": benefit.pk}),
        StepSpec("message", {"template_code": "follow_up", "channel": "sms"}),
    ]
    return running_journey(steps, entry_segment=segment)


def assert_each_member_acted_on_once(journey: object, members: list) -> None:
    assert StepRun.objects.filter(enrolment__journey=journey).count() == 3 * len(members)
    assert Grant.objects.filter(member__in=members).count() == len(members)
    assert Message.objects.filter(member__in=members).count() == len(members)
    for account in PointsAccount.objects.filter(member__in=members):
        assert account.balance == 200
        assert PointsEntry.objects.filter(account=account).count() == 1
    assert set(journey.enrolments.values_list("state", flat=True)) == {EnrolmentState.COMPLETED}


@pytest.mark.django_db
def test_a_crash_mid_chunk_loses_the_chunk_whole_and_a_re_run_acts_once_on_everyone(monkeypatch):
    members = setup_members(5)
    journey = action_journey()
    record = services._record
    calls = {"n": 0}

    def crash_on_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return record(*args, **kwargs)

    monkeypatch.setattr(services, "_record", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        services.journey_tick(journey_id=journey.pk, chunk_size=2)

    # The first chunk committed whole (points, runs, moves); the second one's points rolled back with it.
    assert StepRun.objects.count() == 2
    assert sorted(PointsAccount.objects.filter(member__in=members).values_list("balance", flat=True)) == [0, 0, 0, 200, 200]

    monkeypatch.setattr(services, "_record", record)
    services.journey_tick(journey_id=journey.pk, chunk_size=2)
    services.journey_tick(journey_id=journey.pk, chunk_size=2)
    assert_each_member_acted_on_once(journey, members)


@pytest.mark.django_db
def test_a_step_redone_after_its_record_was_lost_does_not_grant_or_message_twice():
    members = setup_members(3)
    journey = action_journey()
    services.journey_tick(journey_id=journey.pk)
    steps = {step.kind: step for step in journey.current_version.steps.all()}
    # As if the step's record and the move had been lost: the grant and message keys still stop a second effect.
    StepRun.objects.filter(step__kind__in=["benefit", "message"]).delete()
    journey.enrolments.update(state=EnrolmentState.ACTIVE, step=steps["benefit"], due_at=journey.started_at, finished_at=None)
    services.journey_tick(journey_id=journey.pk)
    assert_each_member_acted_on_once(journey, members)


@pytest.mark.django_db
def test_a_points_step_redone_after_its_commit_lost_its_bookkeeping_pays_nobody_twice():
    members = setup_members(3)
    journey = action_journey()
    services.journey_tick(journey_id=journey.pk)
    points_step = journey.current_version.steps.get(kind="points")
    # As if the chunk had committed the points but its step runs and moves were lost, then a second tick came.
    StepRun.objects.all().delete()
    journey.enrolments.update(state=EnrolmentState.ACTIVE, step=points_step, due_at=journey.started_at, finished_at=None)
    services.journey_tick(journey_id=journey.pk)
    services.journey_tick(journey_id=journey.pk)
    assert_each_member_acted_on_once(journey, members)
    enrolments = dict(journey.enrolments.values_list("member_id", "entry_number"))
    keys = set(PointsEntry.objects.filter(account__member__in=members).values_list("idempotency_key", flat=True))
    assert keys == {f"{services.action_key(journey.pk, points_step.pk, enrolments[member.pk])}:member:{member.pk}" for member in members}


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_share_the_work_and_act_once_per_member():
    members = setup_members(30)
    journey = action_journey()
    services.journey_enter(journey_id=journey.pk)

    outcomes = run_at_once(lambda index: str(services.journey_tick(journey_id=journey.pk, chunk_size=4).processed), threads=2)

    assert sum(int(processed) * count for processed, count in outcomes.items()) == 90
    assert_each_member_acted_on_once(journey, members)
