"""Checking products' identifiers and attributes against their kind, with an error that says which check failed."""

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.sales.models import AttributeType, IdentifierCheck, ProductKind

VIN_LENGTH = 17
# ISO 3779 (and China's GB 16735): letters stand for digits, I, O and Q are never used.
_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
CHECK_DIGIT_POSITION = 9


def vin_check_digit(vin: str) -> str:
    """The check digit (``0``–``9`` or ``X``) position 9 must hold, from the other sixteen characters."""
    total = sum(_VIN_VALUES[char] * weight for char, weight in zip(vin, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def vin_normalise(raw: str) -> str:
    """Upper case, spaces and dashes removed; raises ``ApplicationError(invalid_vin)`` naming the check that failed."""
    vin = re.sub(r"[\s-]", "", raw or "").upper()
    if len(vin) != VIN_LENGTH:
        raise ApplicationError(
            "invalid_vin",
            _("A VIN has %(length)d characters; “%(vin)s” has %(count)d.") % {"length": VIN_LENGTH, "vin": vin, "count": len(vin)},
            fields={"identifier": raw},
        )
    forbidden = sorted(set(vin) & set("IOQ"))
    if forbidden:
        raise ApplicationError(
            "invalid_vin",
            _("A VIN never contains the letters I, O or Q; “%(vin)s” contains %(letters)s.")
            % {"vin": vin, "letters": ", ".join(forbidden)},
            fields={"identifier": raw},
        )
    unknown = sorted({char for char in vin if char not in _VIN_VALUES})
    if unknown:
        raise ApplicationError(
            "invalid_vin",
            _("A VIN holds only digits and capital letters; “%(vin)s” contains %(chars)s.") % {"vin": vin, "chars": " ".join(unknown)},
            fields={"identifier": raw},
        )
    expected = vin_check_digit(vin)
    if vin[CHECK_DIGIT_POSITION - 1] != expected:
        raise ApplicationError(
            "invalid_vin",
            _("The check digit of “%(vin)s” (position 9) is %(found)s, but the other characters make it %(expected)s.")
            % {"vin": vin, "found": vin[CHECK_DIGIT_POSITION - 1], "expected": expected},
            fields={"identifier": raw},
        )
    return vin


def identifier_clean(kind: ProductKind, raw: str) -> str:
    if kind.identifier_check == IdentifierCheck.VIN:
        return vin_normalise(raw)
    identifier = (raw or "").strip()
    if not identifier:
        raise ApplicationError(
            "identifier_required", _("The %(label)s is required.") % {"label": kind.identifier_label}, fields={"identifier": raw}
        )
    if len(identifier) > 64:
        raise ApplicationError(
            "identifier_too_long",
            _("The %(label)s has at most 64 characters.") % {"label": kind.identifier_label},
            fields={"identifier": raw},
        )
    return identifier


def _schema_error(message: str) -> ApplicationError:
    return ApplicationError("invalid_attribute_schema", message, fields={"attribute_schema": ""})


def attribute_schema_clean(schema: Any) -> list[dict[str, Any]]:
    """A kind's attribute schema, checked: each field named once, with a known type and, for a choice, its choices."""
    if not isinstance(schema, list):
        raise _schema_error(_("The attribute schema is a list of fields."))
    cleaned, names = [], set()
    for index, item in enumerate(schema, start=1):
        if not isinstance(item, dict):
            raise _schema_error(_("Field %(index)d of the attribute schema is not an object.") % {"index": index})
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            raise _schema_error(
                _("Field %(index)d needs a name of lower-case letters, digits and underscores (at most 40).") % {"index": index}
            )
        if name in names:
            raise _schema_error(_("The attribute “%(name)s” is named twice.") % {"name": name})
        names.add(name)
        kind = item.get("type")
        if kind not in AttributeType.values:
            raise _schema_error(
                _("The attribute “%(name)s” has type “%(type)s”; it must be one of %(types)s.")
                % {"name": name, "type": kind, "types": ", ".join(AttributeType.values)}
            )
        choices = item.get("choices", [])
        if kind == AttributeType.CHOICE and (
            not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices)
        ):
            raise _schema_error(_("The attribute “%(name)s” is a choice: it needs a list of choices.") % {"name": name})
        cleaned.append(
            {
                "name": name,
                "label": str(item.get("label") or name),
                "type": kind,
                "required": bool(item.get("required", False)),
                **({"choices": choices} if kind == AttributeType.CHOICE else {}),
            }
        )
    return cleaned


def _attribute_error(name: str, message: str) -> ApplicationError:
    return ApplicationError("invalid_attribute", message, fields={"attributes": name})


def attributes_clean(kind: ProductKind, attributes: Any) -> dict[str, Any]:
    """``attributes`` checked against the kind's schema: no unknown names, required ones present, values of their type."""
    if attributes in (None, ""):
        attributes = {}
    if not isinstance(attributes, dict):
        raise _attribute_error("", _("The attributes are an object of names and values."))
    schema = {field["name"]: field for field in kind.attribute_schema}
    unknown = sorted(set(attributes) - set(schema))
    if unknown:
        raise _attribute_error(unknown[0], _("%(kind)s has no attribute “%(name)s”.") % {"kind": kind.name, "name": unknown[0]})
    cleaned: dict[str, Any] = {}
    for name, field in schema.items():
        value = attributes.get(name)
        if value in (None, ""):
            if field.get("required"):
                raise _attribute_error(name, _("The attribute “%(name)s” is required.") % {"name": field["label"]})
            continue
        cleaned[name] = _attribute_value(field, value)
    return cleaned


def _attribute_value(field: dict[str, Any], value: Any) -> Any:
    name, kind = field["name"], field["type"]
    if kind == AttributeType.NUMBER:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise _attribute_error(name, _("The attribute “%(name)s” must be a number.") % {"name": field["label"]}) from None
        if not number.is_finite() or isinstance(value, bool):
            raise _attribute_error(name, _("The attribute “%(name)s” must be a number.") % {"name": field["label"]})
        return int(number) if number == number.to_integral_value() else str(number)
    if kind == AttributeType.DATE:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _attribute_error(name, _("The attribute “%(name)s” must be a date (YYYY-MM-DD).") % {"name": field["label"]}) from None
    text = str(value).strip()
    if kind == AttributeType.CHOICE and text not in field["choices"]:
        raise _attribute_error(
            name,
            _("The attribute “%(name)s” must be one of %(choices)s.") % {"name": field["label"], "choices": ", ".join(field["choices"])},
        )
    if len(text) > 200:
        raise _attribute_error(name, _("The attribute “%(name)s” has at most 200 characters.") % {"name": field["label"]})
    return text
