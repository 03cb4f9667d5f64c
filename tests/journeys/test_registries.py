"""The member's journey steps on the timeline, in the PIPL export, and through a merge."""

import pytest

from apps.journeys import selectors, services
from apps.journeys.models import EnrolmentState, StepRun
from apps.journeys.steps import StepSpec
from apps.members.merging import MEMBER_MERGERS
from apps.members.personal_data import MEMBER_DATA_SECTIONS
from apps.members.timeline import TIMELINE_SOURCES, TimelineCursor
from tests.campaigns.factories import SegmentFactory
from tests.journeys.factories import running_journey, wait
from tests.members.factories import MemberFactory, TagFactory

pytestmark = pytest.mark.django_db


def two_step_journey(name: str = "Follow-up") -> object:
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["lead"]}]})
    return running_journey([StepSpec("tag", {"tag": "seen"}), wait(days=3)], entry_segment=segment, name=name)


def tagged(*members: object) -> None:
    tag = TagFactory(name="lead")
    for member in members:
        member.tags.add(tag)


def test_the_timeline_lists_the_members_steps_newest_first_and_pages_by_cursor():
    member = MemberFactory()
    tagged(member)
    journey = two_step_journey()
    services.journey_tick(journey_id=journey.pk)
    source = next(source for source in TIMELINE_SOURCES if source.name == "journey_steps")

    items = source.fetch(member, None, 10)
    assert [item.data["step"] for item in items] == [1]
    assert "Follow-up" in items[0].title
    after = source.fetch(member, TimelineCursor(at=items[0].at, source=items[0].source, item_id=items[0].item_id), 10)
    assert after == []
    assert source.fetch(MemberFactory(), None, 10) == []


def test_the_pipl_export_holds_each_enrolment_and_its_steps():
    member = MemberFactory()
    tagged(member)
    services.journey_tick(journey_id=two_step_journey().pk)
    section = next(section for section in MEMBER_DATA_SECTIONS if section.name == "journeys")
    exported = section.collect(member)
    assert exported[0]["journey"] == "Follow-up"
    assert exported[0]["state"] == EnrolmentState.ACTIVE
    assert [step["kind"] for step in exported[0]["steps"]] == ["tag"]


def test_a_merge_moves_enrolments_and_keeps_the_survivors_place_in_a_shared_journey():
    survivor, merged = MemberFactory(), MemberFactory()
    tagged(survivor, merged)
    shared = two_step_journey("Shared")
    services.journey_tick(journey_id=shared.pk)
    merged_only = two_step_journey("Merged only")
    survivor.tags.clear()
    services.journey_tick(journey_id=merged_only.pk)
    mover = next(merger for merger in MEMBER_MERGERS if merger.name == "journeys")

    moved = mover.move(survivor, merged)

    assert moved == {"journey_enrolments": 1, "journey_step_runs": 1, "journey_enrolments_exited": 1}
    assert merged_only.enrolments.get().member_id == survivor.pk
    assert StepRun.objects.filter(enrolment__journey=merged_only).get().member_id == survivor.pk
    assert dict(shared.enrolments.values_list("member_id", "state")) == {survivor.pk: "active", merged.pk: "exited"}
    assert selectors.member_journeys_export(merged)[0]["state"] == "exited"
