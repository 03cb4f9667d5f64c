"""The back office: attribute definitions and values, tag jobs, attribute files, auto-tag rules, and who may do what."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import AccessLogEntry
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members.models import Tag
from apps.members.services import member_tags_set
from apps.tagging import services
from apps.tagging.models import Attribute, AttributeImport, AttributeValue, AutoTagRule, TagJob, TagJobStatus
from tests.campaigns.factories import SegmentFactory
from tests.members.factories import DuplicateCandidateFactory, MemberFactory, TagFactory
from tests.tagging.factories import AttributeFactory, choice_attribute, number_attribute

pytestmark = pytest.mark.django_db


def _attribute_form(**overrides: str) -> dict[str, str]:
    return {"code": "family_size", "label": "家庭人数", "kind": "number", "choices": "", "pattern": "", "position": "0", **overrides}


def test_an_attribute_with_contradicting_rules_is_a_form_error_and_nothing_is_saved(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:tagging_attribute_add")
    answer = client.post(url, _attribute_form(min_value="10", max_value="2"))
    assert answer.status_code == 200 and "The minimum is above the maximum." in answer.content.decode()
    answer = client.post(url, _attribute_form(code="model", kind="choice"))
    assert "A choice attribute needs a list of choices." in answer.content.decode()
    answer = client.post(url, _attribute_form(code="Bad Code"))
    assert "Lower-case letters" in answer.content.decode()
    assert not Attribute.objects.exists()
    answer = client.post(url, _attribute_form(code="model", kind="choice", choices="ES6\nET5\n\n"))
    assert answer.status_code == 302
    assert Attribute.objects.get().choices == ["ES6", "ET5"]


def test_only_operations_managers_define_attributes(client, staff):
    for role in (CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST):
        client.force_login(staff(role, username=f"u-{role.split()[0].lower()}"))
        assert client.post(reverse("admin:tagging_attribute_add"), _attribute_form()).status_code == 403
    assert not Attribute.objects.exists()


def test_customer_service_edits_a_members_values_and_a_bad_value_is_shown_on_its_field(client, staff):
    member = MemberFactory()
    choice_attribute(label="意向车型")
    number_attribute(label="家庭人数", min_value=1)
    client.force_login(staff(CUSTOMER_SERVICE))
    url = reverse("admin:tagging_attribute_member", args=[member.pk])
    assert client.get(url).status_code == 200
    answer = client.post(url, {"intended_model": "ET5", "family_size": "0"})
    assert answer.status_code == 200
    assert "家庭人数: at least 1." in answer.content.decode()
    assert not AttributeValue.objects.exists()
    answer = client.post(url, {"intended_model": "ET5", "family_size": "4"})
    assert answer.status_code == 302
    assert AttributeValue.objects.count() == 2


def test_personal_attributes_are_neither_shown_nor_editable_without_the_right(client, staff):
    member = MemberFactory()
    AttributeFactory(code="id_tail", label="证件尾号", personal=True)
    services.attribute_values_set(member=member, values={"id_tail": "4321"})
    user = staff()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["edit_member_attributes", "view_member", "view_attribute"]))
    client.force_login(user)
    page = client.get(reverse("admin:tagging_attribute_member", args=[member.pk])).content.decode()
    assert "4321" not in page and "****" in page
    client.post(reverse("admin:tagging_attribute_member", args=[member.pk]), {"id_tail": ""})
    assert AttributeValue.objects.get().value_text == "4321"
    member_page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "4321" not in member_page


def test_roles_without_the_right_cannot_reach_a_members_values_by_url(client, staff):
    member = MemberFactory()
    for role in (AUDITOR, ANALYST, CAMPAIGN_MANAGER):
        client.force_login(staff(role, username=f"u-{role.split()[0].lower()}"))
        assert client.get(reverse("admin:tagging_attribute_member", args=[member.pk])).status_code == 403
    client.force_login(staff(CUSTOMER_SERVICE, username="cs"))
    assert client.get(reverse("admin:tagging_attribute_member", args=["not-a-number"])).status_code == 404


def test_a_campaign_manager_tags_a_segment_and_the_job_page_shows_progress(client, staff):
    members = [MemberFactory(city="杭州") for _ in range(3)]
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "city", "value": ["杭州"]}]})
    client.force_login(staff(CAMPAIGN_MANAGER))
    answer = client.post(reverse("admin:tagging_tagjob_add"), {"tag": "杭州车主", "action": "add", "segment": segment.pk})
    job = TagJob.objects.get()
    assert answer.status_code == 302 and answer.url == reverse("admin:tagging_tagjob_change", args=[job.pk])
    services.tag_job_run(job_id=job.pk)
    page = client.get(answer.url).content.decode()
    assert "3 / 3 (100%)" in page
    assert set(Tag.objects.get(name="杭州车主").members.values_list("pk", flat=True)) == {m.pk for m in members}


def test_a_list_upload_lists_the_identifiers_that_name_no_one(client, staff):
    MemberFactory(external_id="CRM-1")
    client.force_login(staff(CAMPAIGN_MANAGER))
    upload = SimpleUploadedFile("list.csv", b"CRM-1\nCRM-404,extra\n")
    answer = client.post(reverse("admin:tagging_tagjob_add"), {"tag": "试驾", "action": "add", "members_file": upload})
    job = TagJob.objects.get()
    assert (job.total, job.unknown) == (1, ["CRM-404"])
    assert "CRM-404" in client.get(answer.url).content.decode()


def test_bad_tag_job_requests_are_form_errors(client, staff):
    segment = SegmentFactory()
    client.force_login(staff(CAMPAIGN_MANAGER))
    url = reverse("admin:tagging_tagjob_add")
    both = client.post(url, {"tag": "x", "action": "add", "segment": segment.pk, "members_file": SimpleUploadedFile("a.txt", b"1")})
    assert "Choose a segment or upload a list, not both." in both.content.decode()
    unknown = client.post(url, {"tag": "never-used", "action": "remove", "segment": segment.pk})
    assert "No tag is called" in unknown.content.decode()
    assert client.post(url, {"tag": "x", "action": "add", "segment": "999999"}).status_code == 200
    assert not TagJob.objects.exists()


def test_customer_service_and_auditors_cannot_start_tag_jobs(client, staff):
    segment = SegmentFactory()
    for role in (CUSTOMER_SERVICE, AUDITOR, ANALYST):
        client.force_login(staff(role, username=f"u-{role.split()[0].lower()}"))
        assert client.post(reverse("admin:tagging_tagjob_add"), {"tag": "x", "action": "add", "segment": segment.pk}).status_code == 403
    assert not TagJob.objects.exists()


def test_an_attribute_file_is_applied_in_the_background_with_its_row_errors_on_the_page(client, staff):
    choice_attribute()
    MemberFactory(external_id="E1")
    client.force_login(staff(OPERATIONS_MANAGER))
    upload = SimpleUploadedFile("attrs.csv", b"external_id,intended_model\nE1,ES6\nE2,ES6\nE1,Model Y\n")
    answer = client.post(reverse("admin:tagging_attributeimport_add"), {"file": upload})
    job = AttributeImport.objects.get()
    assert answer.status_code == 302
    job = services.attribute_import_run(import_id=job.pk)
    assert (job.status, job.rows, job.error_count, job.content) == (TagJobStatus.DONE, 3, 2, "")
    page = client.get(answer.url).content.decode()
    assert "No member has this external_id." in page and "is not one of" in page
    bad = client.post(reverse("admin:tagging_attributeimport_add"), {"file": SimpleUploadedFile("b.csv", b"external_id,colour\n")})
    assert "Unknown attribute columns: colour" in bad.content.decode()
    assert AttributeImport.objects.count() == 1
    client.force_login(staff(CUSTOMER_SERVICE, username="cs"))
    assert client.post(reverse("admin:tagging_attributeimport_add"), {"file": SimpleUploadedFile("c.csv", b"x")}).status_code == 403


def test_the_export_leaves_out_personal_attributes_for_analysts_and_is_logged(client, staff):
    choice_attribute()
    AttributeFactory(code="id_tail", personal=True)
    member = MemberFactory(external_id="E1")
    services.attribute_values_set(member=member, values={"intended_model": "ET5", "id_tail": "4321"})
    client.force_login(staff(ANALYST))
    answer = client.get(reverse("admin:tagging_attribute_export"))
    body = b"".join(answer.streaming_content).decode() if answer.streaming else answer.content.decode()
    assert "ET5" in body and "4321" not in body and "id_tail" not in body
    assert AccessLogEntry.objects.filter(object_type="tagging.attributevalue").exists()
    client.force_login(staff(CUSTOMER_SERVICE, username="cs"))
    assert client.get(reverse("admin:tagging_attribute_export")).status_code == 403


def test_an_auto_tag_rule_for_a_tag_another_rule_keeps_is_a_form_error(client, staff):
    tag = TagFactory(name="新车主")
    segment = SegmentFactory()
    AutoTagRule.objects.create(name="A", tag=tag, segment=segment)
    client.force_login(staff(CAMPAIGN_MANAGER))
    answer = client.post(reverse("admin:tagging_autotagrule_add"), {"name": "B", "tag": tag.pk, "segment": segment.pk, "active": "on"})
    assert "Another active rule already keeps the tag" in answer.content.decode()
    assert AutoTagRule.objects.count() == 1


def test_tag_history_is_a_read_only_list_for_roles_that_read_it(client, staff):
    member = MemberFactory()
    member_tags_set(member=member, names=["车主"])
    url = reverse("admin:members_tagchange_changelist")
    for role in (CUSTOMER_SERVICE, CAMPAIGN_MANAGER, AUDITOR):
        client.force_login(staff(role, username=f"u-{role.split()[0].lower()}"))
        assert "车主" in client.get(url).content.decode()
    client.force_login(staff(CUSTOMER_SERVICE, username="cs"))
    assert client.get(reverse("admin:members_tagchange_add")).status_code == 403


def test_staff_who_see_phones_masked_cannot_learn_whose_number_it_is_from_a_tag_job(client, staff):
    MemberFactory(phone="+8613911112222", external_id="CRM-1")
    client.force_login(staff(CAMPAIGN_MANAGER))
    url = reverse("admin:tagging_tagjob_add")
    for listed in (b"CRM-1\n139 1111 2222\n", b"CRM-1\n+8613800000000\n"):
        refused = client.post(url, {"tag": "试驾", "action": "add", "members_file": SimpleUploadedFile("list.csv", listed)})
        assert refused.status_code == 200
        assert "Line 2 holds a mobile phone number" in refused.content.decode()
    assert not TagJob.objects.exists()
    assert not Tag.objects.filter(name="试驾", members__isnull=False).exists()
    # An external ID that happens to be all digits still names its member.
    MemberFactory(external_id="13700000000")
    client.post(url, {"tag": "试驾", "action": "add", "members_file": SimpleUploadedFile("list.csv", b"CRM-1\n13700000000\n")})
    assert (TagJob.objects.get().total, TagJob.objects.get().unknown) == (2, [])


def test_a_jobs_unknown_phone_numbers_are_masked_for_staff_who_see_phones_masked(client, staff):
    job = services.tag_job_create(tag_name="试驾", identifiers=["CRM-404", "13800001234"], actor=staff(OPERATIONS_MANAGER))
    url = reverse("admin:tagging_tagjob_change", args=[job.pk])
    client.force_login(staff(AUDITOR))
    page = client.get(url).content.decode()
    assert "CRM-404" in page and "+86138****1234" in page and "13800001234" not in page
    client.force_login(staff(OPERATIONS_MANAGER, username="ops-2"))
    assert "13800001234" in client.get(url).content.decode()


def test_the_merge_page_masks_personal_attribute_values_that_conflict_for_staff_without_the_right(client, staff):
    AttributeFactory(code="id_tail", label="证件尾号", personal=True)
    choice_attribute()
    a, b = MemberFactory(), MemberFactory()
    services.attribute_values_set(member=a, values={"id_tail": "4321", "intended_model": "ES6"})
    services.attribute_values_set(member=b, values={"id_tail": "8765", "intended_model": "ET5"})
    pair = DuplicateCandidateFactory(member_a=a, member_b=b)
    url = reverse("admin:members_duplicatecandidate_change", args=[pair.pk])
    # A role that may merge but sees personal data masked (the demo roles that merge all see it in full).
    merger = staff()
    merger.user_permissions.add(*Permission.objects.filter(codename__in=["merge_member", "view_duplicatecandidate", "view_member"]))
    client.force_login(merger)
    page = client.get(url).content.decode()
    assert 'data-testid="merge-form"' in page
    assert "4321" not in page and "8765" not in page
    assert "ES6" in page and "ET5" in page
    client.force_login(staff(CUSTOMER_SERVICE))
    page = client.get(url).content.decode()
    assert "4321" in page and "8765" in page


def test_an_attribute_file_with_a_nul_character_or_an_oversized_cell_is_a_form_error(client, staff):
    choice_attribute()
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:tagging_attributeimport_add")
    for content, message in [
        (b"external_id,intended_model\nCRM-1,ES6\x00\n", "NUL character"),
        (b"external_id,intended_model," + b"x" * 200_000 + b"\n", "The CSV file cannot be read"),
    ]:
        answer = client.post(url, {"file": SimpleUploadedFile("values.csv", content)})
        assert answer.status_code == 200 and message in answer.content.decode()
    assert not AttributeImport.objects.exists()
