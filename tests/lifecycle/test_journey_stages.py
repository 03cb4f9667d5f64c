"""The journey stage rules, through the real ingest (and our own announced events): each event kind, cancellation,
late and out-of-order events, advocacy, a batch of many members in a fixed number of statements."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.activity import activity_happened
from apps.lifecycle.models import JourneyStage, LifecycleSettings, MemberStage, StageChange, StageDimension
from apps.members.models import MemberStatus
from tests.core.factories import ApiClientFactory
from tests.lifecycle.factories import MemberStageFactory, ingest, journey_event
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def client():
    return ApiClientFactory()


def stage_of(member) -> str:
    return MemberStage.objects.get(member=member).journey_stage


def moves_of(member) -> list[tuple[str, str, str]]:
    return list(
        StageChange.objects.filter(member=member, dimension=StageDimension.JOURNEY)
        .order_by("changed_at", "id")
        .values_list("from_stage", "to_stage", "reason")
    )


@pytest.mark.parametrize(
    ("kind", "stage"),
    [
        ("lead_created", JourneyStage.INTENT),
        ("test_drive_booked", JourneyStage.INTENT),
        ("test_drive_completed", JourneyStage.TEST_DRIVEN),
        ("order_placed", JourneyStage.ORDERED),
        ("delivered", JourneyStage.OWNER),
    ],
)
def test_each_forward_event_moves_a_prospect_to_its_stage_with_history(client, kind, stage):
    member = MemberFactory()
    at = timezone.now() - 3 * DAY
    answer = ingest(client, journey_event(member, kind, at=at))
    row = MemberStage.objects.get(member=member)
    assert row.journey_stage == stage
    assert row.journey_stage_since == at
    change = StageChange.objects.get(member=member)
    assert (change.from_stage, change.to_stage, change.reason, change.changed_at) == (JourneyStage.PROSPECT, stage, kind, at)
    assert change.activity_event_id == member.activity_events.get().pk
    assert answer["points_awarded"] == 0


def test_a_prospect_who_is_not_enrolled_moves_too(client):
    member = MemberFactory(status=MemberStatus.PROSPECT)
    ingest(client, journey_event(member, "lead_created"))
    assert stage_of(member) == JourneyStage.INTENT


def test_the_whole_journey_in_one_batch_records_every_step_in_order(client):
    member = MemberFactory()
    start = timezone.now() - 60 * DAY
    ingest(
        client,
        journey_event(member, "delivered", at=start + 40 * DAY),
        journey_event(member, "lead_created", at=start),
        journey_event(member, "order_placed", at=start + 10 * DAY),
        journey_event(member, "test_drive_completed", at=start + 5 * DAY),
    )
    assert stage_of(member) == JourneyStage.OWNER
    assert moves_of(member) == [
        ("prospect", "intent", "lead_created"),
        ("intent", "test_driven", "test_drive_completed"),
        ("test_driven", "ordered", "order_placed"),
        ("ordered", "owner", "delivered"),
    ]


def test_a_stage_never_moves_back_and_a_late_event_does_not_regress(client):
    member = MemberFactory()
    ingest(client, journey_event(member, "delivered"))
    ingest(client, journey_event(member, "test_drive_completed", at=timezone.now() - 30 * DAY))
    ingest(client, journey_event(member, "lead_created"))
    assert stage_of(member) == JourneyStage.OWNER
    assert moves_of(member) == [("prospect", "owner", "delivered")]


def test_a_repeated_event_is_stored_once_and_moves_nothing_twice(client):
    member = MemberFactory()
    item = journey_event(member, "test_drive_completed", event_id="td-1")
    ingest(client, item)
    answer = ingest(client, item)
    assert answer["duplicates"] == 1
    assert moves_of(member) == [("prospect", "test_driven", "test_drive_completed")]


def test_cancelling_the_only_order_goes_back_to_the_stage_before_the_order(client):
    member = MemberFactory()
    ingest(client, journey_event(member, "test_drive_completed", at=timezone.now() - 10 * DAY))
    ingest(client, journey_event(member, "order_placed", at=timezone.now() - 5 * DAY))
    ingest(client, journey_event(member, "order_cancelled"))
    assert stage_of(member) == JourneyStage.TEST_DRIVEN
    assert moves_of(member)[-1] == ("ordered", "test_driven", "order_cancelled")


def test_cancelling_one_of_two_open_orders_keeps_the_person_ordered(client):
    member = MemberFactory()
    ingest(client, journey_event(member, "order_placed", at=timezone.now() - 5 * DAY))
    ingest(client, journey_event(member, "order_placed", at=timezone.now() - 4 * DAY))
    ingest(client, journey_event(member, "order_cancelled"))
    assert stage_of(member) == JourneyStage.ORDERED
    ingest(client, journey_event(member, "order_cancelled"))
    assert stage_of(member) == JourneyStage.PROSPECT  # where the first order found them


def test_a_cancellation_without_history_of_the_order_goes_back_to_intent(client):
    member = MemberStageFactory(journey_stage=JourneyStage.ORDERED).member
    ingest(client, journey_event(member, "order_cancelled"))
    assert stage_of(member) == JourneyStage.INTENT


def test_an_order_placed_and_cancelled_in_one_batch_leaves_the_stage_before_it(client):
    member = MemberFactory()
    now = timezone.now()
    ingest(
        client,
        journey_event(member, "lead_created", at=now - 3 * DAY),
        journey_event(member, "order_placed", at=now - 2 * DAY),
        journey_event(member, "order_cancelled", at=now - DAY),
    )
    assert stage_of(member) == JourneyStage.INTENT
    assert [move[1] for move in moves_of(member)] == ["intent", "ordered", "intent"]


def test_a_cancellation_that_arrives_before_its_order_keeps_the_order_from_moving_the_stage(client):
    member = MemberFactory()
    ingest(client, journey_event(member, "test_drive_completed", at=timezone.now() - 9 * DAY))
    ingest(client, journey_event(member, "order_cancelled", at=timezone.now() - DAY))
    ingest(client, journey_event(member, "order_placed", at=timezone.now() - 3 * DAY))
    assert stage_of(member) == JourneyStage.TEST_DRIVEN


def test_an_owner_who_cancels_another_order_stays_an_owner(client):
    member = MemberFactory()
    ingest(client, journey_event(member, "order_placed", at=timezone.now() - 90 * DAY))
    ingest(client, journey_event(member, "delivered", at=timezone.now() - 60 * DAY))
    ingest(client, journey_event(member, "order_placed", at=timezone.now() - 5 * DAY))
    ingest(client, journey_event(member, "order_cancelled"))
    assert stage_of(member) == JourneyStage.OWNER


@pytest.mark.parametrize("kind", ["renewal", "referral"])
def test_an_owner_with_a_renewal_or_referral_becomes_an_advocate(client, kind):
    owner, prospect = MemberFactory(), MemberFactory()
    ingest(client, journey_event(owner, "delivered", at=timezone.now() - DAY))
    ingest(client, journey_event(owner, kind), journey_event(prospect, kind))
    assert stage_of(owner) == JourneyStage.ADVOCATE
    assert not MemberStage.objects.filter(member=prospect).exists()  # not an owner: nothing moves


def test_service_visits_make_an_owner_an_advocate_at_the_threshold(client):
    LifecycleSettings.objects.create(advocate_service_visits=2)
    member = MemberFactory()
    ingest(client, journey_event(member, "service_visit", at=timezone.now() - 100 * DAY))  # before ownership: counts
    ingest(client, journey_event(member, "delivered", at=timezone.now() - 90 * DAY))
    assert stage_of(member) == JourneyStage.OWNER
    ingest(client, journey_event(member, "service_visit"))
    assert stage_of(member) == JourneyStage.ADVOCATE


def test_our_own_announced_journey_events_move_the_stage(django_capture_on_commit_callbacks):
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        activity_happened(member_id=member.pk, kind="test_drive_booked", event_id="booking:1", properties={"dealer": "HZ001"})
    assert stage_of(member) == JourneyStage.INTENT


def test_other_activity_kinds_write_nothing(client):
    member = MemberFactory()
    with CaptureQueriesContext(connection) as queries:
        ingest(client, journey_event(member, "app_open"))
    assert not MemberStage.objects.exists()
    assert not any("lifecycle_" in query["sql"] for query in queries.captured_queries)


def test_a_batch_of_many_members_is_written_in_a_fixed_number_of_statements(client):
    members = MemberFactory.create_batch(60)
    MemberStageFactory(member=members[0], journey_stage=JourneyStage.ORDERED)
    now = timezone.now()
    items = [journey_event(member, "lead_created", at=now - 2 * DAY) for member in members]
    items += [journey_event(member, "test_drive_completed", at=now - DAY) for member in members[::2]]
    with CaptureQueriesContext(connection) as queries:
        ingest(client, *items)
    lifecycle_statements = [q["sql"] for q in queries.captured_queries if "lifecycle_" in q["sql"]]
    writes = [sql for sql in lifecycle_statements if sql.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 2  # one UPSERT of the stages, one INSERT of the changes
    assert len(lifecycle_statements) <= 6
    assert stage_of(members[0]) == JourneyStage.ORDERED
    assert stage_of(members[2]) == JourneyStage.TEST_DRIVEN
    assert stage_of(members[3]) == JourneyStage.INTENT
    assert StageChange.objects.count() == 59 + 29  # everyone but the ordered member moves on each event
