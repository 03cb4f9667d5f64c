"""Stage segment conditions (members without a row included), and what lifecycle adds to the member's profile,
timeline, merge and PIPL export."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.campaigns.selectors import rules_members
from apps.core.errors import ApplicationError
from apps.lifecycle import selectors, services
from apps.lifecycle.models import JourneyStage, LifecycleStage, MemberStage, StageChange, StageDimension
from apps.members.merging import MEMBER_MERGERS
from apps.members.personal_data import MEMBER_DATA_SECTIONS
from apps.members.profile_sections import PROFILE_SECTIONS
from apps.members.timeline import TIMELINE_SOURCES, TimelineCursor
from tests.lifecycle.factories import MemberStageFactory, StageChangeFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def matching(rules) -> set[int]:
    return set(rules_members(rules=rules).values_list("pk", flat=True))


@pytest.fixture
def people():
    now = timezone.now()
    return {
        "owner": MemberStageFactory(journey_stage=JourneyStage.OWNER, journey_stage_since=now - 40 * DAY).member,
        "intent": MemberStageFactory(
            journey_stage=JourneyStage.INTENT,
            journey_stage_since=now - 2 * DAY,
            lifecycle_stage=LifecycleStage.DORMANT,
            lifecycle_stage_since=now - 20 * DAY,
        ).member,
        "unstaged": MemberFactory(joined_at=now - 10 * DAY),
    }


def test_journey_stage_condition_counts_members_without_a_row_as_prospects(people):
    ids = {name: member.pk for name, member in people.items()}
    assert matching({"field": "journey_stage", "value": ["owner"]}) == {ids["owner"]}
    assert matching({"field": "journey_stage", "value": ["prospect", "intent"]}) == {ids["intent"], ids["unstaged"]}
    assert matching({"field": "journey_stage", "operator": "not_in", "value": ["prospect"]}) == {ids["owner"], ids["intent"]}


def test_lifecycle_stage_condition_counts_members_without_a_row_as_new(people):
    ids = {name: member.pk for name, member in people.items()}
    assert matching({"field": "lifecycle_stage", "value": ["new"]}) == {ids["owner"], ids["unstaged"]}
    assert matching({"field": "lifecycle_stage", "value": ["dormant"]}) == {ids["intent"]}


def test_in_stage_for_at_least_n_days(people):
    ids = {name: member.pk for name, member in people.items()}
    assert matching({"field": "journey_stage_days", "operator": "gte", "value": 30}) == {ids["owner"]}
    assert matching({"field": "journey_stage_days", "operator": "gte", "value": 5}) == {ids["owner"], ids["unstaged"]}
    both = {
        "op": "and",
        "conditions": [
            {"field": "lifecycle_stage", "value": ["dormant"]},
            {"field": "lifecycle_stage_days", "operator": "gte", "value": 14},
        ],
    }
    assert matching(both) == {ids["intent"]}


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "journey_stage", "value": ["buyer"]},
        {"field": "lifecycle_stage", "value": []},
        {"field": "journey_stage_days", "operator": "gte", "value": 0},
        {"field": "lifecycle_stage_days", "operator": "gte", "value": "7"},
    ],
)
def test_bad_stage_conditions_are_refused_naming_the_rule(rule):
    with pytest.raises(ApplicationError) as refused:
        matching(rule)
    assert refused.value.code == "invalid_segment_rule"


def test_the_profile_section_shows_both_stages_with_since(people):
    section = next(section for section in PROFILE_SECTIONS if section.name == "stages")
    owner = section.summary(people["owner"])
    assert (owner["journey_stage"], owner["lifecycle_stage"]) == ("owner", "new")
    unstaged = section.summary(people["unstaged"])
    assert unstaged["journey_stage"] == "prospect"
    assert unstaged["journey_stage_since"] == people["unstaged"].joined_at.isoformat()


def test_the_timeline_source_pages_newest_first_and_strictly_older_than_the_cursor():
    member = MemberFactory()
    at = timezone.now() - DAY
    first = StageChangeFactory(member=member, changed_at=at)
    second = StageChangeFactory(member=member, changed_at=at, from_stage="intent", to_stage="test_driven", reason="test_drive_completed")
    third = StageChangeFactory(
        member=member,
        changed_at=at + DAY / 2,
        dimension=StageDimension.LIFECYCLE,
        from_stage="new",
        to_stage="growing",
        reason="lifecycle_nightly",
    )
    source = next(source for source in TIMELINE_SOURCES if source.name == "stages")
    page = source.fetch(member, None, 2)
    assert [item.item_id for item in page] == [third.pk, second.pk]
    assert page[1].detail == "Test drive completed"
    rest = source.fetch(member, TimelineCursor(at=page[-1].at, source="stages", item_id=page[-1].item_id), 10)
    assert [item.item_id for item in rest] == [first.pk]
    # At the same instant, a source sorting after ours comes first: our item is still to come after its cursor.
    assert [item.item_id for item in source.fetch(member, TimelineCursor(at=at, source="zzz", item_id=1), 10)] == [second.pk, first.pk]
    assert source.fetch(member, TimelineCursor(at=at, source="aaa", item_id=1), 10) == []


def test_merging_moves_the_history_and_keeps_the_further_journey_stage():
    survivor = MemberStageFactory(journey_stage=JourneyStage.INTENT).member
    merged = MemberStageFactory(journey_stage=JourneyStage.OWNER).member
    StageChangeFactory(member=merged, to_stage="owner")
    mover = next(merger for merger in MEMBER_MERGERS if merger.name == "stages")
    assert mover.move(survivor, merged) == {"stage_changes": 1}
    assert MemberStage.objects.get(member=survivor).journey_stage == JourneyStage.OWNER
    assert not MemberStage.objects.filter(member=merged).exists()
    assert StageChange.objects.filter(member=survivor).count() == 2  # the moved one and the merge's own
    assert StageChange.objects.filter(member=survivor, reason=services.MERGE_REASON).exists()


def test_merging_into_a_member_further_on_keeps_the_survivor_stage_and_into_an_unstaged_one_takes_the_row():
    survivor = MemberStageFactory(journey_stage=JourneyStage.ADVOCATE).member
    merged = MemberStageFactory(journey_stage=JourneyStage.ORDERED).member
    services.member_stages_merge(survivor, merged)
    assert MemberStage.objects.get(member=survivor).journey_stage == JourneyStage.ADVOCATE
    unstaged = MemberFactory()
    services.member_stages_merge(unstaged, survivor)
    assert MemberStage.objects.get(member=unstaged).journey_stage == JourneyStage.ADVOCATE


def test_the_pipl_export_holds_current_stages_and_history():
    member = MemberStageFactory(journey_stage=JourneyStage.INTENT).member
    StageChangeFactory(member=member)
    section = next(section for section in MEMBER_DATA_SECTIONS if section.name == "stages")
    data = section.collect(member)
    assert data["current"]["journey_stage"] == "intent"
    assert data["history"] == [selectors.member_stage_data(member)["history"][0]]
    assert data["history"][0]["to"] == "intent"
