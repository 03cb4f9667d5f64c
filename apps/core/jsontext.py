"""JSON text is read by the standard library, which turns an escape such as ``"\\ud800"`` into a lone UTF-16 surrogate:
a Python string that UTF-8 (and so PostgreSQL, the idempotency fingerprint, every encoder) cannot hold. Input is
checked here once, as it is parsed, so a caller gets a 400 naming the field instead of a server error later."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(key: str) -> str:
    return key if _is_text(key) else key.encode("utf-8", "backslashreplace").decode("utf-8")


def lone_surrogate_path(value: Any) -> str | None:
    """The dotted path (``leads.0.phone``; the whole body is ``""``) of the first key or string in parsed JSON that
    holds a lone surrogate, or None when every string is text. Walked without recursion: nesting is not bounded."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, current = pending.pop()
        if isinstance(current, str):
            if not _is_text(current):
                return path
        elif isinstance(current, dict):
            for key, item in reversed(current.items()):
                child = f"{path}.{_shown(key)}" if path else _shown(key)
                if not _is_text(key):
                    return child
                pending.append((child, item))
        elif isinstance(current, list):
            pending.extend((f"{path}.{index}" if path else str(index), item) for index, item in reversed(list(enumerate(current))))
    return None


def refuse_lone_surrogates(value: Any) -> Any:
    """``value`` unchanged, or an ``ApplicationError`` (400 ``invalid_text``) naming the field that is not text."""
    path = lone_surrogate_path(value)
    if path is None:
        return value
    field = path or "body"
    raise ApplicationError(
        "invalid_text",
        _("“%(field)s” holds a lone UTF-16 surrogate escape (such as \\ud800), which is not text.") % {"field": field},
        fields={field: _("Not text: a lone UTF-16 surrogate.")},
    )


class TextJSONFormField(forms.JSONField):
    """The back office's JSON input: a lone surrogate escape in any string or key is an error on the field naming
    where it is, as the API's ``invalid_text`` is, instead of a server error when the value is saved or shown again.
    Every admin form's JSON field is one of these (``apps.core.admin_base.ModelAdmin``)."""

    def to_python(self, value: Any) -> Any:
        converted = super().to_python(value)
        path = None if self.disabled else lone_surrogate_path(converted)
        if path is not None:
            field = f"{self.label} → {path}" if path else str(self.label)
            raise ValidationError(
                _("“%(field)s” holds a lone UTF-16 surrogate escape (such as \\ud800), which is not text.") % {"field": field},
                code="invalid_text",
            )
        return converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Shown again as typed: the parsed value could not be written into the page.
        bound = super().bound_data(data, initial)
        if not isinstance(bound, InvalidJSONInput) and lone_surrogate_path(bound) is not None:
            return InvalidJSONInput(data)
        return bound
