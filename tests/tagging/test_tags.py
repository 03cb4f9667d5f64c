from pathlib import Path

import pytest
from django.db import transaction

from apps.core.errors import ApplicationError
from apps.members import services as member_services
from apps.members.merging import MEMBER_MERGERS
from apps.members.models import Member, Tag, TagChange, TagChangeAction, TagChangeSource
from apps.members.timeline import TIMELINE_SOURCES, TimelineCursor
from apps.tagging import services
from apps.tagging.models import AutoTagMember, AutoTagRule, TagJob, TagJobAction, TagJobStatus
from tests.campaigns.factories import SegmentFactory
from tests.members.factories import MemberFactory, TagFactory
from tests.tagging.factories import choice_attribute

pytestmark = pytest.mark.django_db


def _city_segment(city: str = "杭州"):
    return SegmentFactory(rules={"op": "and", "conditions": [{"field": "city", "value": [city]}]})


def _history(member: Member) -> list[tuple[str, str, str]]:
    return list(TagChange.objects.filter(member=member).order_by("pk").values_list("tag__name", "action", "source"))


def test_the_member_form_and_enrolment_record_every_tag_added_and_removed(staff) -> None:
    user = staff()
    member = member_services.member_enrol(name="王五", phone="13700000001", tags=["车主", "试驾"], actor=user)
    member_services.member_update_profile(member=member, actor=user, tags=["车主", "高价值"])
    assert sorted(member.tags.values_list("name", flat=True)) == ["车主", "高价值"]
    history = _history(member)
    assert sorted(history[:2]) == [("试驾", "added", "enrolment"), ("车主", "added", "enrolment")]
    assert history[2:] == [("高价值", "added", "staff"), ("试驾", "removed", "staff")]
    assert set(TagChange.objects.filter(source="staff").values_list("actor", flat=True)) == {user.pk}
    member_services.member_update_profile(member=member, actor=user, tags=["车主", "高价值"])
    assert TagChange.objects.count() == 4


def test_a_segment_job_tags_every_member_in_chunks_and_records_it(staff) -> None:
    user = staff()
    inside = [MemberFactory(city="杭州") for _ in range(5)]
    MemberFactory(city="上海")
    already = inside[0]
    member_services.tags_add(tag=TagFactory(name="杭州车主"), member_ids=[already.pk], source=TagChangeSource.STAFF)
    with transaction.atomic():
        job = services.tag_job_create(tag_name="杭州车主", segment=_city_segment(), actor=user)
    job = services.tag_job_run(job_id=job.pk, chunk_size=2)
    assert (job.status, job.total, job.done, job.changed) == (TagJobStatus.DONE, 5, 5, 4)
    assert set(Tag.objects.get(name="杭州车主").members.values_list("pk", flat=True)) == {m.pk for m in inside}
    job_changes = TagChange.objects.filter(source=TagChangeSource.JOB)
    assert job_changes.count() == 4
    assert set(job_changes.values_list("reference", flat=True)) == {f"job {job.pk}"}
    assert set(job_changes.values_list("actor", flat=True)) == {user.pk}


def test_a_job_killed_after_a_chunk_resumes_where_it_stopped_and_a_rerun_changes_nothing() -> None:
    members = [MemberFactory(city="杭州") for _ in range(5)]
    job = services.tag_job_create(tag_name="VIP", segment=_city_segment())
    services._tag_job_start(job_id=job.pk)
    assert services._tag_job_chunk(job_id=job.pk, size=2)
    # The worker dies here: the task is delivered again and runs from the start.
    job = services.tag_job_run(job_id=job.pk, chunk_size=2)
    assert (job.status, job.done, job.changed) == (TagJobStatus.DONE, 5, 5)
    services.tag_job_run(job_id=job.pk, chunk_size=2)
    assert TagChange.objects.count() == 5
    assert Tag.objects.get(name="VIP").members.count() == len(members)


def test_a_list_job_names_members_by_phone_or_external_id_and_lists_unknown_ones() -> None:
    by_phone = MemberFactory(phone="+8613911112222")
    by_id = MemberFactory(external_id="CRM-9")
    MemberFactory()
    job = services.tag_job_create(tag_name="试驾", identifiers=["139 1111 2222", "CRM-9", "CRM-404", "", "CRM-9", "13800000000"])
    assert (job.total, job.unknown_count, job.unknown) == (2, 2, ["CRM-404", "13800000000"])
    job = services.tag_job_run(job_id=job.pk)
    assert set(Tag.objects.get(name="试驾").members.values_list("pk", flat=True)) == {by_phone.pk, by_id.pk}


def test_a_remove_job_untags_only_members_that_had_the_tag() -> None:
    tagged, untagged = MemberFactory(city="杭州"), MemberFactory(city="杭州")
    tag = TagFactory(name="潜客")
    member_services.tags_add(tag=tag, member_ids=[tagged.pk], source=TagChangeSource.STAFF)
    job = services.tag_job_run(job_id=services.tag_job_create(tag_name="潜客", action=TagJobAction.REMOVE, segment=_city_segment()).pk)
    assert (job.done, job.changed) == (2, 1)
    assert _history(tagged)[-1] == ("潜客", "removed", "job")
    assert _history(untagged) == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"tag_name": " ", "identifiers": ["a"]}, "tag_required"),
        ({"tag_name": "x" * 51, "identifiers": ["a"]}, "invalid_tag"),
        ({"tag_name": "x", "identifiers": []}, "target_required"),
        ({"tag_name": "x", "identifiers": [" "], "segment": None}, "empty_list"),
        ({"tag_name": "nobody-has-this", "action": "remove", "identifiers": ["a"]}, "unknown_tag"),
        ({"tag_name": "x", "action": "toggle", "identifiers": ["a"]}, "invalid_action"),
    ],
)
def test_bad_job_requests_are_refused_and_create_nothing(kwargs: dict, code: str) -> None:
    if code == "target_required":
        kwargs["segment"] = _city_segment()
    with pytest.raises(ApplicationError) as caught, transaction.atomic():
        services.tag_job_create(**kwargs)
    assert caught.value.code == code
    assert not TagJob.objects.exists()


def test_a_job_whose_segment_cannot_be_read_fails_with_the_reason() -> None:
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "no_such_field", "value": ["x"]}]})
    job = services.tag_job_create(tag_name="x", segment=segment)
    with pytest.raises(ApplicationError):
        services.tag_job_run(job_id=job.pk)
    services.tag_job_fail(job_id=job.pk, error="unknown field")
    assert TagJob.objects.get(pk=job.pk).status == TagJobStatus.FAILED


def test_an_auto_tag_rule_adds_new_matches_and_removes_only_what_it_added() -> None:
    segment = _city_segment()
    tag = TagFactory(name="新车主")
    rule = services.auto_tag_rule_save(rule=AutoTagRule(name="Owners", tag=tag, segment=segment))
    matching, hand_tagged, elsewhere = MemberFactory(city="杭州"), MemberFactory(city="杭州"), MemberFactory(city="上海")
    member_services.tags_add(tag=tag, member_ids=[hand_tagged.pk], source=TagChangeSource.STAFF)
    assert services.auto_tag_sync(rule_id=rule.pk, chunk_size=1) == services.AutoTagSync(added=1, removed=0)
    assert set(AutoTagMember.objects.values_list("member_id", flat=True)) == {matching.pk}
    Member.objects.filter(pk__in=[matching.pk, hand_tagged.pk]).update(city="上海")
    Member.objects.filter(pk=elsewhere.pk).update(city="杭州")
    assert services.auto_tag_sync(rule_id=rule.pk) == services.AutoTagSync(added=1, removed=1)
    assert set(tag.members.values_list("pk", flat=True)) == {hand_tagged.pk, elsewhere.pk}
    assert _history(matching) == [("新车主", "added", "auto_rule"), ("新车主", "removed", "auto_rule")]
    assert services.auto_tag_sync(rule_id=rule.pk) == services.AutoTagSync(added=0, removed=0)
    rule.refresh_from_db()
    assert (rule.last_added, rule.last_removed) == (0, 0)
    assert rule.synced_at is not None


def test_two_active_rules_cannot_keep_one_tag() -> None:
    tag = TagFactory(name="新车主")
    services.auto_tag_rule_save(rule=AutoTagRule(name="A", tag=tag, segment=_city_segment()))
    with pytest.raises(ApplicationError) as caught:
        services.auto_tag_rule_save(rule=AutoTagRule(name="B", tag=tag, segment=_city_segment("上海")))
    assert caught.value.fields == {"tag": tag.pk}


def test_merge_moves_attributes_unless_they_conflict_and_members_unites_tags_with_history() -> None:
    merger = next(m for m in MEMBER_MERGERS if m.name == "tagging")
    survivor, merged = MemberFactory(), MemberFactory()
    choice_attribute()
    services.attribute_values_set(member=merged, values={"intended_model": "ES6"})
    member_services.member_tags_set(member=survivor, names=["车主"])
    member_services.member_tags_set(member=merged, names=["车主", "试驾"])
    assert merger.conflicts(survivor, merged) == []
    assert merger.move(survivor, merged) == {"attribute_values": 1}
    assert next(m for m in MEMBER_MERGERS if m.name == "members").move(survivor, merged)["tags"] == 1
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["试驾", "车主"]
    assert list(merged.tags.all()) == []
    assert ("试驾", "added", "merge") in _history(survivor)
    services.attribute_values_set(member=merged, values={"intended_model": "ET5"})
    [conflict] = merger.conflicts(survivor, merged)
    assert (conflict.field, conflict.survivor_value, conflict.merged_value) == ("intended_model", "ES6", "ET5")


def test_the_timeline_source_pages_tag_history_newest_first() -> None:
    source = next(s for s in TIMELINE_SOURCES if s.name == "tags")
    member = MemberFactory()
    for name in ["a", "b", "c"]:
        member_services.tags_add(tag=TagFactory(name=name), member_ids=[member.pk], source=TagChangeSource.STAFF)
    first = source.fetch(member, None, 2)
    assert [item.data["tag"] for item in first] == ["c", "b"]
    rest = source.fetch(member, TimelineCursor(at=first[-1].at, source="tags", item_id=first[-1].item_id), 2)
    assert [item.data["tag"] for item in rest] == ["a"]
    assert rest[0].kind == f"tag_{TagChangeAction.ADDED}"


def test_tags_are_written_only_by_the_members_tag_service() -> None:
    offenders = []
    for path in Path("apps").rglob("*.py"):
        if path.as_posix() == "apps/members/services/tags.py" or "migrations" in path.parts:
            continue
        text = path.read_text()
        writes = ("member.tags.set(", "member.tags.add(", "member.tags.remove(", "member.tags.clear(", "Member.tags.through.objects.create")
        if any(call in text for call in writes):
            offenders.append(str(path))
    assert offenders == []
