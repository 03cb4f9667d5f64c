"""Back-office JSON input refuses lone surrogate escapes on the field, as the API does (400 invalid_text)."""

import pytest
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.test import RequestFactory
from django.urls import reverse
from django.utils.html import escape

from apps.core.jsontext import TextJSONFormField
from apps.core.roles import CAMPAIGN_MANAGER
from apps.members.models import ConsentChannel
from apps.messaging.models import MessageTemplate
from tests.core.factories import UserFactory

pytestmark = pytest.mark.django_db


def _admins_with_their_inlines():
    for model, model_admin in admin.site._registry.items():
        yield model, model_admin
        for inline_class in model_admin.inlines:
            yield inline_class.model, inline_class(model_admin.model, admin.site)


def test_every_json_field_of_every_back_office_form_is_the_text_checking_one():
    request = RequestFactory().get("/")
    request.user = UserFactory(is_superuser=True, is_staff=True)
    checked = []
    for model, model_admin in _admins_with_their_inlines():
        for field in model._meta.get_fields():
            if isinstance(field, models.JSONField) and field.editable:
                form_field = model_admin.formfield_for_dbfield(field, request)
                assert isinstance(form_field, TextJSONFormField), f"{type(model_admin).__name__}.{field.name}"
                checked.append(f"{model._meta.label}.{field.name}")
        declared = getattr(model_admin.form, "declared_fields", {})
        for name, form_field in declared.items():
            if isinstance(form_field, forms.JSONField):
                assert isinstance(form_field, TextJSONFormField), f"{type(model_admin).__name__}.{name}"
    # The back office's JSON inputs the review found: rule conditions, activity kind schemas, journey entry
    # properties, product kind attribute schemas, message templates' provider parameters, webhook event types, and
    # a survey question's choices (an inline).
    assert {
        "feedback.SurveyQuestion.choices",
        "rules.EarningRule.property_conditions",
        "analytics.RegisteredActivityKind.properties_schema",
        "journeys.Journey.entry_properties",
        "sales.ProductKind.attribute_schema",
        "messaging.MessageTemplate.provider_params",
        "webhooks.WebhookEndpoint.event_types",
    } <= set(checked)


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ('"\\ud800"', "settings"),
        ('{"colour": ["red", "\\udc00x"]}', "settings → colour.1"),
        ('{"\\ud83d": 1}', "settings → \\ud83d"),
    ],
)
def test_a_lone_surrogate_is_an_error_naming_the_field_and_where(typed, named):
    field = TextJSONFormField(label="settings")
    with pytest.raises(ValidationError) as caught:
        field.clean(typed)
    assert caught.value.code == "invalid_text" and f"“{named}”" in caught.value.messages[0]
    assert isinstance(field.bound_data(typed, None), str)


def test_a_paired_surrogate_escape_is_text():
    assert TextJSONFormField(label="settings").clean('{"name": "\\ud83d\\ude00"}') == {"name": "😀"}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_back_office_refuses_it_on_the_field_and_saves_nothing(client, staff, language):
    client.force_login(staff(CAMPAIGN_MANAGER))
    data = {
        "code": "points_sms",
        "channel": ConsentChannel.SMS,
        "subject_en": "",
        "subject_zh_hans": "",
        "body_en": "Hi {{ name }}",
        "body_zh_hans": "{{ name }}",
        "provider_template_id": "1110",
        "provider_params": '["name", "\\ud800"]',
        "is_active": "on",
    }
    response = client.post(reverse("admin:messaging_messagetemplate_add"), data, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["provider_params"] and "\\ud800" in errors["provider_params"][0]
    assert escape('["name", "\\ud800"]') in response.content.decode()
    assert not MessageTemplate.objects.filter(code="points_sms").exists()
