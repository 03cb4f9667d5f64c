"""Activity kinds the brand registers itself: saving one (its code and its properties' JSON schema checked), and the
compiled schemas the ingest checks a batch's properties against.

Compiled validators are kept per process, keyed by the kind's ``updated_at``: each batch that carries registered kinds
reads their codes and timestamps in one query, so an edit made in any process is seen by the next batch everywhere
and a schema is compiled once per process per version.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from apps.analytics.models import KIND_CODE_MAX_LENGTH, ActivityKind, RegisteredActivityKind
from apps.core.errors import ApplicationError
from apps.core.models import User

_VALIDATORS: dict[str, tuple[datetime, Draft202012Validator]] = {}


@transaction.atomic
def activity_kind_save(*, kind: RegisteredActivityKind, actor: User | None = None) -> RegisteredActivityKind:
    """Create or edit a registered kind; its code may not be a built-in kind's and its schema must be a valid schema."""
    code = (kind.code or "").strip()
    if not code or len(code) > KIND_CODE_MAX_LENGTH or not code.replace("_", "").isalnum() or not code.isascii() or not code[0].isalpha():
        raise ApplicationError(
            "invalid_code", _("Use lower-case letters, digits and underscores, starting with a letter."), fields={"code": code}
        )
    if code != code.lower():
        raise ApplicationError(
            "invalid_code", _("Use lower-case letters, digits and underscores, starting with a letter."), fields={"code": code}
        )
    if code in ActivityKind.values:
        raise ApplicationError("builtin_kind", _("This is a built-in activity kind; choose another code."), fields={"code": code})
    if kind.pk:
        stored = RegisteredActivityKind.objects.select_for_update().get(pk=kind.pk)
        if stored.code != code:
            raise ApplicationError(
                "code_fixed", _("The code cannot change once events may carry it; register a new kind instead."), fields={"code": code}
            )
    schema = kind.properties_schema if kind.properties_schema not in (None, "") else {}
    if not isinstance(schema, dict):
        raise ApplicationError("invalid_schema", _("The schema must be a JSON object."), fields={"properties_schema": schema})
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ApplicationError(
            "invalid_schema", _("This is not a valid JSON schema: %(error)s") % {"error": error.message}, fields={"properties_schema": ""}
        ) from None
    kind.code, kind.properties_schema = code, schema
    kind._history_user = actor
    kind.save()
    return kind


@dataclass(frozen=True)
class KindCheck:
    """How to check one registered kind's events."""

    code: str
    validator: Draft202012Validator


def registered_kinds(codes: set[str]) -> dict[str, KindCheck]:
    """The active registered kinds among ``codes``, with their compiled schemas (one query; compiled once per version)."""
    wanted = {code for code in codes if isinstance(code, str) and code not in ActivityKind.values}
    if not wanted:
        return {}
    found = {}
    for code, updated_at, schema in _kind_rows(wanted):
        cached = _VALIDATORS.get(code)
        if cached is None or cached[0] != updated_at:
            cached = (updated_at, Draft202012Validator(schema or {}))
            _VALIDATORS[code] = cached
        found[code] = KindCheck(code=code, validator=cached[1])
    return found


def _kind_rows(codes: set[str]) -> list[tuple[str, datetime, Any]]:
    # The schema is read only for kinds whose compiled validator is missing or stale.
    rows = list(RegisteredActivityKind.objects.filter(code__in=codes, is_active=True).values_list("code", "updated_at"))
    stale = [code for code, updated_at in rows if code not in _VALIDATORS or _VALIDATORS[code][0] != updated_at]
    schemas = dict(RegisteredActivityKind.objects.filter(code__in=stale).values_list("code", "properties_schema")) if stale else {}
    return [(code, updated_at, schemas.get(code)) for code, updated_at in rows]


def property_problem(check: KindCheck, properties: dict[str, Any]) -> tuple[str, str] | None:
    """The first property that breaks the kind's schema, as (field name, message); None when they satisfy it."""
    error = best_match(check.validator.iter_errors(properties))
    if error is None:
        return None
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = next((name for name in error.validator_value if name not in (error.instance or {})), "")
        path.append(str(missing))
        return "properties." + ".".join(path), _("This property is required.")
    name = "properties." + ".".join(path) if path else "properties"
    return name, _("Not valid for this kind: %(error)s") % {"error": _short(error)}


def _short(error: ValidationError) -> str:
    return error.message[:200]


def all_kind_choices() -> list[tuple[str, str]]:
    """Built-in kinds, then the registered ones: what rule and filter forms offer."""
    registered = [(kind.code, str(kind)) for kind in RegisteredActivityKind.objects.order_by("code")]
    return [*((value, str(label)) for value, label in ActivityKind.choices), *registered]


def kind_label(code: str) -> str:
    """A kind as staff read it, in their language: a built-in kind's label, a registered kind's name, else the code."""
    if code in ActivityKind.values:
        return str(ActivityKind(code).label)
    return str(RegisteredActivityKind.objects.filter(code=code).first() or code)
