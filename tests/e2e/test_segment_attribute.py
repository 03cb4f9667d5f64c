"""The segment builder's attribute condition: a campaign manager picks an attribute, an operator and a value fitting
its type, sees the live count, and saves; in English and in 中文. Personal attributes are not offered to them."""

import re

import pytest

from apps.campaigns.models import Segment
from apps.core.roles import CAMPAIGN_MANAGER
from apps.tagging import services as tagging
from tests.members.factories import MemberFactory
from tests.tagging.factories import AttributeFactory, choice_attribute, number_attribute

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LABELS = {
    "en": {"field": "Attribute", "save": "Save"},
    "zh-hans": {"field": "属性", "save": "保存"},
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_campaign_manager_builds_a_segment_on_an_attribute_and_previews_its_count(page, login_as, screenshot, language):
    number_attribute(label="家庭人数")
    choice_attribute(label="意向车型")
    AttributeFactory(code="id_card_tail", label="身份证尾号", personal=True)
    for size in (5, 6, 2):
        tagging.attribute_values_set(member=MemberFactory(), values={"family_size": size})
    user = login_as(CAMPAIGN_MANAGER)
    user.language = language
    user.save(update_fields=["language"])
    labels = LABELS[language]

    page.goto("/admin/campaigns/segment/add/")
    page.fill("input[name=name]", f"Families ({language})")
    builder = page.locator("#segment-builder")
    builder.get_by_test_id("add-condition").click()
    rule = builder.get_by_test_id("rule").nth(0)
    rule.get_by_test_id("rule-field").select_option(label=labels["field"])
    attribute = rule.get_by_test_id("rule-attribute")
    offered = attribute.locator("option").all_inner_texts()
    assert "家庭人数" in offered and "意向车型" in offered and "身份证尾号" not in offered

    attribute.select_option(label="家庭人数")
    rule.get_by_test_id("rule-operator").select_option("gte")
    value = rule.get_by_test_id("rule-value")
    assert value.get_attribute("type") == "number"
    value.fill("")
    # An incomplete value is refused by the live preview, naming the attribute.
    page.locator("#segment-preview [data-error]").filter(has_text="家庭人数").wait_for()
    value.fill("5")
    page.locator("#segment-preview [data-count]").filter(has_text=re.compile(r"^2$")).wait_for()
    screenshot(f"segment-attribute-{language}")

    page.get_by_role("button", name=labels["save"], exact=True).click()
    page.wait_for_url(re.compile(r"/admin/campaigns/segment/$"))
    assert Segment.objects.get(name=f"Families ({language})").rules == {
        "op": "and",
        "conditions": [{"field": "attribute", "operator": "gte", "value": {"code": "family_size", "value": 5}}],
    }


def test_a_choice_attribute_offers_its_choices_as_checkboxes(page, login_as):
    choice_attribute(label="意向车型")
    tagging.attribute_values_set(member=MemberFactory(), values={"intended_model": "ET5"})
    login_as(CAMPAIGN_MANAGER)
    page.goto("/admin/campaigns/segment/add/")
    builder = page.locator("#segment-builder")
    builder.get_by_test_id("add-condition").click()
    rule = builder.get_by_test_id("rule").nth(0)
    rule.get_by_test_id("rule-field").select_option(label="Attribute")
    assert rule.get_by_test_id("rule-operator").locator("option").all_inner_texts() == [
        "is one of",
        "is not one of",
        "has a value",
        "has no value",
    ]
    rule.get_by_test_id("rule-value").locator("label", has_text="ET5").locator("input").check()
    page.locator("#segment-preview [data-count]").filter(has_text=re.compile(r"^1$")).wait_for()
    assert '"ET5"' in page.locator("#id_rules").input_value()
