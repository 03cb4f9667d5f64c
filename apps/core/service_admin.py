"""The back office's answer to a service that refuses a save: a form error, not a success message.

Every ModelAdmin whose save calls a service mixes in ``ServiceFormAdmin``. The add/change view runs in one
transaction; when the service raises ``ApplicationError`` the transaction rolls back and the view runs once
more with the refusal attached to the form, so the page shows what was typed with the message on the field
the service named (or on the form) and nothing was saved or announced.
"""

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse

from apps.core.errors import ApplicationError

_REFUSAL = "_userops_service_refusal"


def add_service_error(form: forms.BaseForm, error: ApplicationError) -> None:
    """Put a service's refusal on the first field it names that the form has, else on the form."""
    field = next((name for name in error.fields if name in form.fields), None)
    form.add_error(field, error.message)


def _form_reporting(form_class: type[forms.BaseForm], error: ApplicationError) -> type[forms.BaseForm]:
    class RefusedForm(form_class):
        def full_clean(self) -> None:
            super().full_clean()
            if self.is_bound:
                add_service_error(self, error)

    RefusedForm.__name__ = form_class.__name__
    return RefusedForm


class ServiceFormAdmin:
    """Mix into a ModelAdmin (first) whose ``save_model``/``save_related`` call services that may refuse."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as refusal:
            if request.method != "POST" or hasattr(request, _REFUSAL):
                raise
            setattr(request, _REFUSAL, refusal)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> type[forms.BaseForm]:
        form_class = super().get_form(request, obj, **kwargs)
        refusal = getattr(request, _REFUSAL, None)
        return form_class if refusal is None else _form_reporting(form_class, refusal)
