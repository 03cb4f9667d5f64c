import json

import pytest
from django.urls import reverse

from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members.models import Consent, ConsentChannel
from apps.messaging import services
from tests.members.factories import ConsentFactory, MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def message():
    MessageTemplateFactory()
    member = MemberFactory()
    ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    return services.message_enqueue(member=member, channel="sms", template_code="welcome", context={}, purpose="marketing", dedupe_key="x")


def test_unsubscribe_get_only_shows_a_page(api, message):
    response = api.get(f"/api/v1/unsubscribe/{message.unsubscribe_token}/")
    assert response.status_code == 200 and b"<form" in response.content
    assert Consent.objects.get(member=message.member, channel="sms").granted


def test_unsubscribe_post_without_auth_withdraws_consent(api, message):
    response = api.post(f"/api/v1/unsubscribe/{message.unsubscribe_token}/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json() == {"unsubscribed": True, "channel": "sms"}
    assert not Consent.objects.get(member=message.member, channel="sms").granted
    page = api.post(f"/api/v1/unsubscribe/{message.unsubscribe_token}/")
    assert page.status_code == 200 and b"unsubscribed" in page.content


def test_unsubscribe_unknown_token_is_404(api):
    assert api.get("/api/v1/unsubscribe/nope/").status_code == 404
    assert api.post("/api/v1/unsubscribe/nope/", HTTP_ACCEPT="application/json").json()["error"]["code"] == "unsubscribe_token_invalid"


@pytest.mark.parametrize("role", [CAMPAIGN_MANAGER, CUSTOMER_SERVICE])
def test_outbox_and_templates_pages_load_per_role(client, staff, message, role):
    client.force_login(staff(role))
    assert client.get("/admin/messaging/message/").status_code == 200
    assert client.get(f"/admin/messaging/message/{message.pk}/change/").status_code == 200
    assert client.get("/admin/messaging/messagetemplate/").status_code == 200
    assert client.get("/admin/messaging/messagetemplate/add/").status_code == (200 if role == CAMPAIGN_MANAGER else 403)


@pytest.mark.parametrize("role", [ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER])
def test_the_outbox_page_never_shows_a_messages_unsubscribe_link(client, staff, role, settings):
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "CHANNEL_PROVIDERS": {"sms": "log"}}
    MessageTemplateFactory(code="stop_link", provider_params={"stop": "unsubscribe_url", "who": "name"})
    message = services.message_enqueue(
        member=MemberFactory(name="Li Lei"), channel=ConsentChannel.SMS, template_code="stop_link", context={}, dedupe_key="stop"
    )
    assert message.unsubscribe_token in message.body and message.unsubscribe_token in json.dumps(message.provider_params)
    client.force_login(staff(role))
    page = client.get(reverse("admin:messaging_message_change", args=[message.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert message.unsubscribe_token not in html
    assert "Hi Li Lei, you are Basic." in html and "/api/v1/unsubscribe/********/" in html and "Li Lei" in html
