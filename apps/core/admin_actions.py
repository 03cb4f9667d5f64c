"""The back office's one action page: a form (or a bare confirmation) and one service call.

An admin declares each action of an object page as an ``AdminAction`` class attribute: its button (label, URL,
permission, icon), the page (title, explanation, form) and what it does (``perform``, which calls one service and
returns the success message). ``AdminActionsMixin`` turns those declarations into the theme's detail actions, so each
gets its URL (``admin:<app>_<model>_<name>``), its button and its permission check, and all of them share one view and
one template (``admin/userops/action_form.html``):

- a GET only shows the form (GET never changes state);
- a valid POST asks ``confirmation`` first when it has a question, then calls ``perform`` and redirects with its
  message;
- a service's ``ApplicationError`` re-renders the form with what was typed and the message on the field it names.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.decorators import action

from apps.core.admin_base import object_or_404
from apps.core.errors import ApplicationError
from apps.core.service_admin import add_service_error

ACTION_TEMPLATE = "admin/userops/action_form.html"

# Texts of a page may depend on its object (a title naming the benefit, an explanation that depends on a state).
Text = Any | Callable[[Model], Any]


class ConfirmForm(forms.Form):
    """No fields: pressing Confirm, a POST carrying the CSRF token, is the confirmation."""


@dataclass(frozen=True)
class Subject:
    """The object an action page is about, as plain values: its name, a link to it, and a few facts."""

    name: str
    url: str
    facts: Sequence[str] = ()


@dataclass(frozen=True)
class AdminAction:
    """One action page of an object: declared on a ModelAdmin that mixes in ``AdminActionsMixin``."""

    description: Any
    url_path: str
    permissions: Sequence[str]
    title: Text
    # Calls the service with the request's user and the form's cleaned data; returns the success message.
    perform: Callable[[HttpRequest, Any, dict[str, Any]], Any]
    form_class: type[forms.Form] = ConfirmForm
    explanation: Text = ""
    icon: str | None = None
    select_related: Sequence[str] = ()
    # Where Cancel (and, without ``done_url``, success) leads; by default the object's own page.
    back_url: Callable[[Any], str] | None = None
    done_url: Callable[[Any], str] | None = None
    subject: Callable[[Any], Subject] | None = None
    # A question to answer before acting, shown from the first GET (a summary) …
    summary: Callable[[Any], str] | None = None
    # … or asked once a filled-in form is valid; the form it returns (prefilled) confirms on the next POST.
    confirmation: Callable[[HttpRequest, Any, forms.Form], tuple[str, forms.Form] | None] | None = None
    # Why the object cannot take this action any more: the page says so and offers no form.
    unusable: Callable[[Any], str | None] | None = None

    def view(self, model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
        queryset = model_admin.model._default_manager.select_related(*self.select_related)
        obj = object_or_404(queryset, object_id)
        opts = model_admin.model._meta
        back_url = self.back_url(obj) if self.back_url else reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        unusable = self.unusable(obj) if self.unusable else None
        form = self.form_class(request.POST if request.method == "POST" else None)
        question = self.summary(obj) if self.summary else None
        if unusable is None and request.method == "POST" and form.is_valid():
            asked = self.confirmation(request, obj, form) if self.confirmation else None
            if asked is None:
                try:
                    messages.success(request, self.perform(request, obj, form.cleaned_data))
                    return HttpResponseRedirect(self.done_url(obj) if self.done_url else back_url)
                except ApplicationError as exc:
                    add_service_error(form, exc)
            else:
                question, form = asked
        subject = self.subject(obj) if self.subject else Subject(name=str(obj), url=back_url)
        context = {
            **model_admin.admin_site.each_context(request),
            "title": _text(self.title, obj),
            "subject": subject,
            "explanation": _text(self.explanation, obj),
            "confirmation": question,
            "unusable": unusable,
            "form": form,
            "opts": opts,
            "original": obj,
            "change_url": back_url,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


def _text(text: Text, obj: Any) -> Any:
    return text(obj) if callable(text) else text


class AdminActionsMixin:
    """Mix into a ModelAdmin: every ``AdminAction`` class attribute becomes a detail action with its own URL and button.

    List the names in ``actions_detail`` as for any detail action (the theme builds the URLs and checks the
    permissions from there).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, declared in list(vars(cls).items()):
            if isinstance(declared, AdminAction):
                setattr(cls, name, _detail_action(name, declared))


def _detail_action(name: str, declared: AdminAction) -> Callable[..., HttpResponse]:
    def page(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
        return declared.view(model_admin, request, object_id)

    # The theme finds a detail action, and checks its permissions, by the method's name.
    page.__name__ = page.__qualname__ = name
    return action(description=declared.description, url_path=declared.url_path, permissions=list(declared.permissions), icon=declared.icon)(
        page
    )
