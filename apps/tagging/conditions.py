"""The segment condition on custom attributes, registered into the campaigns' registry from TaggingConfig.ready().

One condition, ``attribute``, names the attribute in its value (``{"code": "family_size", "value": 4}``); the
operators an attribute takes follow its type. It is a ``member IN (values of that attribute in range)`` subquery
read from the (attribute, typed value) index, so a segment stays one SQL query.
"""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.campaigns.conditions import COMPARISONS, MASK, OPERATOR_LABELS, _choices, _date, _days, _invalid, _strings, register_condition
from apps.tagging.models import Attribute, AttributeKind, AttributeValue
from apps.tagging.services import MAX_NUMBER

OPERATORS_BY_KIND = {
    AttributeKind.TEXT: ("in", "not_in", "is_set", "not_set"),
    AttributeKind.CHOICE: ("in", "not_in", "is_set", "not_set"),
    AttributeKind.NUMBER: (*COMPARISONS, "is_set", "not_set"),
    AttributeKind.DATE: ("after", "before", "within_days", "is_set", "not_set"),
}
OPERATOR_LABELS.setdefault("is_set", gettext_lazy("has a value"))
OPERATOR_LABELS.setdefault("not_set", gettext_lazy("has no value"))
ALL_OPERATORS = tuple(dict.fromkeys(operator for operators in OPERATORS_BY_KIND.values() for operator in operators))


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid(path, _("a number is required."))
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise _invalid(path, _("a number is required.")) from None
    if not number.is_finite() or abs(number) > MAX_NUMBER:
        raise _invalid(path, _("a number is required."))
    return number


def _names_personal_attribute(value: Any) -> bool:
    """Whether the rule names a personal attribute; a rule naming no known attribute reads nothing (compile refuses it)."""
    code = value.get("code") if isinstance(value, dict) else None
    return isinstance(code, str) and Attribute.objects.filter(code=code, personal=True).exists()


def _mask_attribute_value(value: Any) -> Any:
    # The attribute's code stays readable: which attribute a segment reads is not personal, the value compared is.
    if isinstance(value, dict) and "value" in value:
        return {**value, "value": MASK}
    return value


def _attribute_options(can_see_personal: bool) -> list[dict[str, Any]]:
    """The attributes the segment builder offers, each with the operators and choices its type takes; personal ones
    only to a reader who may see personal data."""
    attributes = Attribute.objects.order_by("position", "code")
    if not can_see_personal:
        attributes = attributes.filter(personal=False)
    return [
        {
            "code": attribute.code,
            "label": str(attribute.label),
            "kind": attribute.kind,
            "operators": [[operator, str(OPERATOR_LABELS.get(operator, operator))] for operator in OPERATORS_BY_KIND[attribute.kind]],
            "choices": list(attribute.choices) if attribute.kind == AttributeKind.CHOICE else None,
        }
        for attribute in attributes
    ]


@register_condition(
    "attribute",
    label=gettext_lazy("Attribute"),
    operators=ALL_OPERATORS,
    value_kind="attribute",
    personal=_names_personal_attribute,
    mask=_mask_attribute_value,
    options=_attribute_options,
)
def _attribute(operator: str, value: Any, path: str = "attribute") -> Q:
    if not isinstance(value, dict) or not isinstance(value.get("code"), str):
        raise _invalid(path, _('the value names the attribute: {"code": …, "value": …}.'))
    attribute = Attribute.objects.filter(code=value["code"]).first()
    if attribute is None:
        raise _invalid(path, _("unknown attribute %(code)s.") % {"code": value["code"][:40]})
    # From here on every refusal names the attribute as staff know it: "rules.conditions[0].attribute[家庭人数].value: …".
    path = f"{path}[{attribute.label}]"
    if operator not in OPERATORS_BY_KIND[attribute.kind]:
        raise _invalid(path, _("operator %(operator)s does not fit a %(kind)s attribute.") % {"operator": operator, "kind": attribute.kind})
    values = AttributeValue.objects.filter(attribute=attribute)
    if operator in ("is_set", "not_set"):
        held = Q(pk__in=values.values("member_id"))
        return ~held if operator == "not_set" else held
    given, inner = value.get("value"), f"{path}.value"
    if attribute.kind == AttributeKind.NUMBER:
        values = values.filter(**{f"value_number__{COMPARISONS[operator]}": _number(given, inner)})
    elif attribute.kind == AttributeKind.DATE:
        if operator == "within_days":
            values = values.filter(
                value_date__gte=timezone.localdate() - timedelta(days=_days(given, inner)), value_date__lte=timezone.localdate()
            )
        elif operator == "after":
            values = values.filter(value_date__gte=_date(given, inner))
        else:
            values = values.filter(value_date__lt=_date(given, inner))
    else:
        texts = _choices(given, inner, attribute.choices) if attribute.kind == AttributeKind.CHOICE else _strings(given, inner)
        matched = Q(pk__in=values.filter(value_text__in=texts).values("member_id"))
        return ~matched if operator == "not_in" else matched
    return Q(pk__in=values.values("member_id"))
