"""Segment conditions on personal data, as an attacker without the personal-data permission tries each route.

Staff who see members masked must not learn a masked value by building, previewing or counting a segment that
narrows on it until the count changes; segments saved by staff who may see it still run, and read masked.
"""

import json

import pytest
from django.urls import reverse

from apps.campaigns import selectors, services
from apps.campaigns.conditions import CONDITIONS, check_reader, mask_personal_values, personal_conditions
from apps.campaigns.models import Segment
from apps.core.errors import ApplicationError
from apps.core.roles import CAMPAIGN_MANAGER, OPERATIONS_MANAGER
from apps.tagging import services as tagging
from tests.campaigns.factories import SegmentFactory
from tests.members.factories import MemberFactory
from tests.tagging.factories import AttributeFactory, number_attribute

pytestmark = pytest.mark.django_db

PERSONAL_RULES = {
    "op": "and",
    "conditions": [
        {"field": "city", "value": ["杭州"]},
        {"field": "attribute", "operator": "in", "value": {"code": "id_card_tail", "value": ["1234"]}},
    ],
}
PLAIN_ATTRIBUTE_RULES = {
    "op": "and",
    "conditions": [{"field": "attribute", "operator": "gte", "value": {"code": "family_size", "value": 3}}],
}
BIRTHDAY_RULES = {"op": "and", "conditions": [{"field": "birthday_month", "value": [5]}]}


@pytest.fixture
def attributes():
    AttributeFactory(code="id_card_tail", label="ID tail", personal=True)
    number_attribute()


@pytest.fixture
def held():
    """A member in 杭州 whose personal attribute holds 1234."""
    member = MemberFactory(city="杭州")
    tagging.attribute_values_set(member=member, values={"id_card_tail": "1234"})
    return member


def test_conditions_declare_whether_they_read_personal_data(attributes):
    assert CONDITIONS["birthday_month"].reads_personal_data([5])
    assert not CONDITIONS["city"].reads_personal_data(["杭州"])
    assert CONDITIONS["attribute"].reads_personal_data({"code": "id_card_tail", "value": ["1"]})
    assert not CONDITIONS["attribute"].reads_personal_data({"code": "family_size", "value": 3})
    assert [path for path, _condition in personal_conditions(PERSONAL_RULES)] == ["rules.conditions[1].attribute"]
    assert personal_conditions(PLAIN_ATTRIBUTE_RULES) == []


def test_the_refusal_names_the_condition_and_its_path(attributes):
    with pytest.raises(ApplicationError) as refused:
        check_reader(PERSONAL_RULES, can_see_personal=False)
    assert refused.value.code == "segment_condition_personal" and refused.value.http_status == 403
    assert "rules.conditions[1].attribute" in refused.value.message and "Attribute" in refused.value.message
    check_reader(PERSONAL_RULES, can_see_personal=True)
    check_reader(PLAIN_ATTRIBUTE_RULES, can_see_personal=False)


def test_masking_keeps_the_attribute_and_hides_the_value(attributes):
    masked = mask_personal_values(PERSONAL_RULES)
    assert masked["conditions"][0] == PERSONAL_RULES["conditions"][0]
    assert masked["conditions"][1]["value"] == {"code": "id_card_tail", "value": "****"}
    assert mask_personal_values(BIRTHDAY_RULES)["conditions"][0]["value"] == "****"
    assert mask_personal_values(PLAIN_ATTRIBUTE_RULES) == PLAIN_ATTRIBUTE_RULES


def test_services_refuse_a_reader_without_the_permission_and_write_nothing(attributes, held):
    with pytest.raises(ApplicationError, match="personal data"):
        services.segment_save(segment=Segment(name="bisect", rules=PERSONAL_RULES), can_see_personal=False)
    assert not Segment.objects.filter(name="bisect").exists()
    with pytest.raises(ApplicationError, match="Birthday month"):
        selectors.segment_preview(rules=BIRTHDAY_RULES, can_see_personal=False)
    assert selectors.segment_preview(rules=PERSONAL_RULES, can_see_personal=True)["count"] == 1


def test_a_segment_saved_by_a_permitted_user_still_runs_without_a_reader(attributes, held):
    segment = services.segment_save(segment=Segment(name="ID tail segment", rules=PERSONAL_RULES), can_see_personal=True)
    assert list(selectors.segment_members(segment=segment).values_list("pk", flat=True)) == [held.pk]
    assert services.segment_freeze(segment=segment).frozen_count == 1


def test_admin_form_refuses_to_save_a_personal_condition(client, staff, attributes):
    client.force_login(staff(CAMPAIGN_MANAGER))
    response = client.post(
        reverse("admin:campaigns_segment_add"), {"name": "bisect", "description": "", "rules": json.dumps(PERSONAL_RULES)}
    )
    assert response.status_code == 200
    assert "reads members&#x27; personal data" in response.content.decode()
    assert not Segment.objects.filter(name="bisect").exists()


def test_admin_form_of_a_permitted_user_saves_it(client, staff, attributes):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(
        reverse("admin:campaigns_segment_add"), {"name": "ID tails", "description": "", "rules": json.dumps(PERSONAL_RULES)}
    )
    assert response.status_code == 302
    assert Segment.objects.get(name="ID tails").rules == PERSONAL_RULES


def test_preview_url_refuses_personal_conditions_to_a_masked_role(client, staff, attributes, held):
    url = reverse("admin:campaigns_segment_preview")
    client.force_login(staff(CAMPAIGN_MANAGER))
    for rules in (PERSONAL_RULES, BIRTHDAY_RULES):
        response = client.post(url, json.dumps(rules), content_type="application/json")
        assert response.status_code == 403
        assert "count" not in response.json() and "personal data" in response.json()["error"]
    assert client.post(url, json.dumps(PLAIN_ATTRIBUTE_RULES), content_type="application/json").status_code == 200
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.post(url, json.dumps(PERSONAL_RULES), content_type="application/json").json()["count"] == 1


def test_a_masked_role_reads_a_saved_personal_segment_masked_and_cannot_change_it(client, staff, attributes):
    segment = services.segment_save(segment=Segment(name="ID tail segment", rules=PERSONAL_RULES), can_see_personal=True)
    client.force_login(staff(CAMPAIGN_MANAGER))
    change = reverse("admin:campaigns_segment_change", args=[segment.pk])
    page = client.get(change).content.decode()
    assert "id_card_tail" in page and "****" in page and "1234" not in page
    assert 'name="rules"' not in page
    refused = client.post(change, {"name": "renamed", "description": ""})
    assert refused.status_code == 200 and "personal data" in refused.content.decode()
    assert Segment.objects.get(pk=segment.pk).name == "ID tail segment"
    client.force_login(staff(OPERATIONS_MANAGER))
    assert "1234" in client.get(change).content.decode()


def test_history_is_masked_and_past_versions_refused_to_a_masked_role(client, staff, attributes):
    segment = services.segment_save(segment=Segment(name="ID tails", rules=PLAIN_ATTRIBUTE_RULES), can_see_personal=True)
    segment.rules = PERSONAL_RULES
    services.segment_save(segment=segment, can_see_personal=True)
    version = segment.history.latest().history_id
    client.force_login(staff(CAMPAIGN_MANAGER))
    history = client.get(reverse("admin:campaigns_segment_history", args=[segment.pk]))
    assert history.status_code == 200 and "1234" not in history.content.decode()
    assert client.get(reverse("admin:campaigns_segment_simple_history", args=[segment.pk, version])).status_code == 403


def test_url_filters_on_the_rules_are_refused(client, staff, attributes):
    SegmentFactory(name="ID tails", rules=PERSONAL_RULES)
    client.force_login(staff(CAMPAIGN_MANAGER))
    changelist = reverse("admin:campaigns_segment_changelist")
    hit, miss = client.get(f"{changelist}?rules__icontains=1234"), client.get(f"{changelist}?rules__icontains=9999")
    assert hit.status_code == miss.status_code == 400 and hit.content == miss.content
    assert "ID tails" not in client.get(f"{changelist}?q=1234").content.decode()


def test_the_builder_offers_personal_conditions_and_attributes_only_to_readers_who_may_see_them(attributes):
    masked = {entry["field"]: entry for entry in selectors.segment_builder_config(can_see_personal=False)}
    full = {entry["field"]: entry for entry in selectors.segment_builder_config(can_see_personal=True)}
    assert "birthday_month" not in masked and "birthday_month" in full
    assert [option["code"] for option in masked["attribute"]["options"]] == ["family_size"]
    assert {option["code"] for option in full["attribute"]["options"]} == {"family_size", "id_card_tail"}
    family_size = masked["attribute"]["options"][0]
    assert family_size["kind"] == "number" and [op for op, _label in family_size["operators"]][:2] == ["gte", "lte"]


def test_a_refused_attribute_value_names_the_attribute(attributes):
    rules = {"field": "attribute", "operator": "gte", "value": {"code": "family_size", "value": "many"}}
    with pytest.raises(ApplicationError) as refused:
        selectors.segment_preview(rules=rules, can_see_personal=False)
    assert refused.value.message.startswith("rules.attribute[Family Size].value: ")
