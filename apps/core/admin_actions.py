"""The generic back-office confirmation page: a GET shows what will happen, only a POST (with its CSRF token) does it."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from apps.core.errors import ApplicationError


class ConfirmForm(forms.Form):
    """No fields: pressing Confirm, a POST carrying the CSRF token, is the confirmation."""


def confirm_action(
    model_admin: ModelAdmin,
    request: HttpRequest,
    *,
    title: Any,
    subject: object,
    change_url: str,
    explanation: Any,
    perform: Callable[[], str],
) -> HttpResponse:
    """Run ``perform`` on a POST and come back to ``change_url`` with its message; any other method only asks."""
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            messages.success(request, perform())
            return HttpResponseRedirect(change_url)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "opts": model_admin.model._meta,
        "change_url": change_url,
        "subject": subject,
        "explanation": explanation,
    }
    return TemplateResponse(request, "admin/userops/action_form.html", context)
