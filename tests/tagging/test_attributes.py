from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.campaigns.selectors import rules_members
from apps.core.errors import ApplicationError
from apps.members.services import member_anonymise
from apps.tagging import selectors, services
from apps.tagging.models import Attribute, AttributeKind, AttributeValue
from tests.members.factories import MemberFactory
from tests.tagging.factories import AttributeFactory, choice_attribute, date_attribute, number_attribute

pytestmark = pytest.mark.django_db


def _refused(code: str, attribute: Attribute, raw: object) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        services.attribute_parse(attribute, raw)
    assert caught.value.code == code
    assert attribute.code in caught.value.fields
    assert str(attribute.label) in caught.value.message
    return caught.value


def test_text_values_are_checked_for_length_and_pattern() -> None:
    attribute = AttributeFactory(code="plate", label="Plate", max_length=8, pattern=r"[A-Z0-9]+")
    assert services.attribute_parse(attribute, " AB123 ") == "AB123"
    _refused("too_long", attribute, "ABCDEFGHIJ")
    _refused("pattern_mismatch", attribute, "ab-12")
    assert services.attribute_parse(attribute, "") is None


def test_number_values_are_checked_against_min_max_and_decimals() -> None:
    attribute = number_attribute(label="Family size", min_value=Decimal(1), max_value=Decimal(12))
    assert services.attribute_parse(attribute, "4") == Decimal(4)
    _refused("invalid_number", attribute, "four")
    _refused("below_minimum", attribute, "0")
    _refused("above_maximum", attribute, "13")
    _refused("invalid_number", attribute, "1.00001")
    _refused("invalid_number", attribute, "NaN")


def test_date_values_are_checked_against_the_range() -> None:
    attribute = date_attribute(label="Licence date", min_date=date(1950, 1, 1), max_date=date(2030, 1, 1))
    assert services.attribute_parse(attribute, "2020-05-01") == date(2020, 5, 1)
    _refused("invalid_date", attribute, "01/05/2020")
    _refused("before_earliest", attribute, "1900-01-01")
    _refused("after_latest", attribute, "2031-01-01")


def test_choice_values_must_be_one_of_the_choices_and_required_cannot_be_cleared() -> None:
    attribute = choice_attribute(label="Intended model", required=True)
    assert services.attribute_parse(attribute, "ET5") == "ET5"
    error = _refused("invalid_choice", attribute, "Model Y")
    assert "ES6, ET5, EC7" in error.message
    _refused("attribute_required", attribute, "  ")


def test_definitions_that_contradict_themselves_are_refused() -> None:
    for attribute, code in [
        (Attribute(code="a", label="A", kind=AttributeKind.CHOICE, choices=[]), "choices_required"),
        (Attribute(code="b", label="B", kind=AttributeKind.TEXT, choices=["x"]), "choices_not_allowed"),
        (Attribute(code="c", label="C", kind=AttributeKind.NUMBER, min_value=5, max_value=1), "invalid_range"),
        (Attribute(code="d", label="D", kind=AttributeKind.TEXT, pattern="(["), "invalid_pattern"),
        (Attribute(code="e", label="E", kind=AttributeKind.CHOICE, choices=["x", " x"]), "duplicate_choices"),
    ]:
        with pytest.raises(ApplicationError) as caught:
            services.attribute_save(attribute=attribute)
        assert caught.value.code == code
    assert not Attribute.objects.exists()


def test_a_type_or_a_choice_in_use_cannot_change() -> None:
    attribute = choice_attribute()
    services.attribute_values_set(member=MemberFactory(), values={"intended_model": "ES6"})
    attribute.kind = AttributeKind.TEXT
    attribute.choices = []
    with pytest.raises(ApplicationError, match="type cannot change"):
        services.attribute_save(attribute=attribute)
    attribute = Attribute.objects.get(pk=attribute.pk)
    attribute.choices = ["ET5"]
    with pytest.raises(ApplicationError, match="ES6"):
        services.attribute_save(attribute=attribute)


def test_values_are_set_typed_and_cleared_and_one_bad_value_writes_nothing() -> None:
    member = MemberFactory()
    choice_attribute()
    number_attribute()
    services.attribute_values_set(member=member, values={"intended_model": "ES6", "family_size": "3"})
    assert {v.attribute.code: (v.value_text, v.value_number) for v in AttributeValue.objects.select_related("attribute")} == {
        "intended_model": ("ES6", None),
        "family_size": (None, Decimal(3)),
    }
    with pytest.raises(ApplicationError) as caught:
        services.attribute_values_set(member=member, values={"intended_model": "EC7", "family_size": "many"})
    assert caught.value.fields == {"family_size": "many"}
    assert AttributeValue.objects.get(attribute__code="intended_model").value_text == "ES6"
    services.attribute_values_set(member=member, values={"family_size": ""})
    assert not AttributeValue.objects.filter(attribute__code="family_size").exists()
    with pytest.raises(ApplicationError, match="nope"):
        services.attribute_values_set(member=member, values={"nope": "1"})


def test_personal_values_are_masked_for_readers_without_the_right() -> None:
    member = MemberFactory()
    AttributeFactory(code="id_card_tail", label="ID tail", personal=True)
    choice_attribute()
    services.attribute_values_set(member=member, values={"id_card_tail": "1234", "intended_model": "ET5"})
    masked = {row["code"]: row["value"] for row in selectors.member_attributes(member=member, can_see_personal=False)}
    assert masked == {"id_card_tail": selectors.MASK, "intended_model": "ET5"}
    full = {row["code"]: row["value"] for row in selectors.member_attributes(member=member, can_see_personal=True)}
    assert full["id_card_tail"] == "1234"
    summary = selectors.member_attributes_summary(member)
    assert {"label": "ID tail", "value": selectors.MASK} in summary["attributes"]
    header, rows = selectors.attribute_export_rows(members=type(member).objects.all(), can_see_personal=False)
    assert "id_card_tail" not in header
    assert "1234" not in str(list(rows))


def _members(rules: dict) -> set[int]:
    return set(rules_members(rules=rules).values_list("pk", flat=True))


def test_segments_on_attributes_by_type_are_one_query() -> None:
    choice_attribute()
    number_attribute()
    date_attribute()
    AttributeFactory(code="nickname")
    small, big, none = MemberFactory(), MemberFactory(), MemberFactory()
    today = timezone.localdate()
    services.attribute_values_set(
        member=small, values={"intended_model": "ES6", "family_size": "2", "licence_date": str(today - timedelta(days=10))}
    )
    services.attribute_values_set(
        member=big, values={"intended_model": "ET5", "family_size": "5", "licence_date": "2001-01-01", "nickname": "老王"}
    )

    def condition(operator: str, value: object, code: str) -> dict:
        return {"field": "attribute", "operator": operator, "value": {"code": code, "value": value}}

    assert _members(condition("in", ["ES6"], "intended_model")) == {small.pk}
    assert _members(condition("not_in", ["ES6"], "intended_model")) == {big.pk, none.pk}
    assert _members(condition("gte", 4, "family_size")) == {big.pk}
    assert _members(condition("lt", "2.5", "family_size")) == {small.pk}
    assert _members(condition("within_days", 30, "licence_date")) == {small.pk}
    assert _members(condition("before", "2010-01-01", "licence_date")) == {big.pk}
    assert _members(condition("in", ["老王"], "nickname")) == {big.pk}
    assert _members(condition("not_set", None, "nickname")) == {small.pk, none.pk}
    with CaptureQueriesContext(connection) as queries:
        list(
            rules_members(
                rules={"op": "and", "conditions": [condition("gte", 1, "family_size"), condition("in", ["ET5"], "intended_model")]}
            )
        )
    assert len([q for q in queries.captured_queries if "tagging_attributevalue" in q["sql"]]) == 1


@pytest.mark.parametrize(
    ("operator", "value", "message"),
    [
        ("in", {"code": "family_size", "value": ["x"]}, "does not fit"),
        ("gte", {"code": "family_size", "value": "many"}, "number"),
        ("in", {"code": "intended_model", "value": ["Model Y"]}, "unknown values"),
        ("in", {"code": "missing", "value": ["x"]}, "unknown attribute"),
        ("in", ["ES6"], "names the attribute"),
    ],
)
def test_bad_attribute_conditions_are_refused_naming_the_rule(operator: str, value: object, message: str) -> None:
    choice_attribute()
    number_attribute()
    with pytest.raises(ApplicationError, match=message) as caught:
        rules_members(rules={"op": "and", "conditions": [{"field": "attribute", "operator": operator, "value": value}]})
    assert caught.value.fields["rules"].startswith("rules.conditions[0].attribute")


def test_anonymisation_clears_personal_attributes_only() -> None:
    member = MemberFactory()
    AttributeFactory(code="id_card_tail", personal=True)
    choice_attribute()
    services.attribute_values_set(member=member, values={"id_card_tail": "1234", "intended_model": "ET5"})
    member_anonymise(member=member, reason="PIPL request")
    assert list(AttributeValue.objects.values_list("attribute__code", flat=True)) == ["intended_model"]


def test_attribute_file_import_writes_good_rows_and_reports_bad_ones_by_row_and_column() -> None:
    choice_attribute()
    number_attribute(min_value=Decimal(1))
    first, second = MemberFactory(external_id="E1"), MemberFactory(external_id="E2")
    result = services.attribute_values_import(
        header=["external_id", "intended_model", "family_size"],
        rows=[["E1", "ES6", "3"], ["E2", "Model Y", "2"], ["E3", "ET5", "1"], ["", "ET5", "1"], ["E2", "", "0"]],
    )
    assert result.rows == 5
    assert result.members_updated == 1
    assert [(e.row, e.field) for e in result.errors] == [(3, "intended_model"), (4, "external_id"), (5, "external_id"), (6, "family_size")]
    assert selectors.member_attribute_initial(member=first) == {"intended_model": "ES6", "family_size": Decimal(3)}
    assert selectors.member_attribute_initial(member=second) == {}
    with pytest.raises(ApplicationError, match="colour"):
        services.attribute_values_import(header=["external_id", "colour"], rows=[])
    with pytest.raises(ApplicationError, match="external_id or a phone"):
        services.attribute_values_import(header=["name", "family_size"], rows=[])
