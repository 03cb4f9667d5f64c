"""Delivery receipt callbacks: valid, forged, unknown, repeated and malformed reports."""

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.messaging import services
from apps.messaging.models import Message, MessageState
from tests.members.factories import MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

TOKEN = "receipt-token-5f1c9b2e"


@pytest.fixture(autouse=True)
def receipt_tokens(settings):
    providers = settings.USEROPS_MESSAGING["PROVIDERS"]
    settings.USEROPS_MESSAGING = {
        **settings.USEROPS_MESSAGING,
        "PROVIDERS": {
            **providers,
            "aliyun_sms": {**providers["aliyun_sms"], "RECEIPT_TOKEN": TOKEN},
            "tencent_sms": {**providers["tencent_sms"], "RECEIPT_TOKEN": TOKEN},
        },
    }


def sent(provider: str, reference: str, key: str = "k") -> Message:
    MessageTemplateFactory()
    message = services.message_enqueue(member=MemberFactory(), channel="sms", template_code="welcome", context={}, dedupe_key=key)
    Message.objects.filter(pk=message.pk).update(state=MessageState.SENT, provider=provider, provider_ref=reference, sent_at=timezone.now())
    return message


def post(client, provider, payload, token=TOKEN):
    url = reverse("api-v1:message-receipts", kwargs={"provider": provider, "token": token})
    return client.post(url, payload, content_type="application/json")


def aliyun_report(biz_id, success=True, code="DELIVERED"):
    return {
        "phone_number": "13712345678",
        "send_time": "2026-05-01 12:00:00",
        "report_time": "2026-05-01 12:00:05",
        "success": success,
        "err_code": code,
        "err_msg": "用户接收成功" if success else "失败",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": "1",
    }


def tencent_report(sid, status="SUCCESS", errmsg="DELIVRD"):
    return {
        "user_receive_time": "2026-05-01 12:00:05",
        "nationcode": "86",
        "mobile": "13712345678",
        "report_status": status,
        "errmsg": errmsg,
        "description": "用户短信送达成功",
        "sid": sid,
    }


def test_aliyun_report_marks_delivered_with_the_report_time(client):
    message = sent("aliyun_sms", "9006197469364984^0")
    response = post(client, "aliyun_sms", [aliyun_report("9006197469364984^0")])
    assert response.status_code == 200 and response.json() == {"code": 0, "msg": "成功", "applied": 1, "repeated": 0}
    message.refresh_from_db()
    assert message.state == MessageState.DELIVERED and message.provider_code == "DELIVERED"
    assert message.delivered_at.isoformat() == "2026-05-01T04:00:05+00:00"


def test_tencent_failure_report_marks_failed_with_the_provider_code(client, settings):
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "FALLBACK_ORDER": {"welcome": ["sms", "email"]}}
    MessageTemplateFactory(channel="email")
    message = sent("tencent_sms", "2028:f825e6b16e23f73f41231")
    assert message.fallback_channels == ["email"]
    response = post(client, "tencent_sms", [tencent_report("2028:f825e6b16e23f73f41231", "FAIL", "MK:0005")])
    assert response.status_code == 200 and response.json()["result"] == 0
    message.refresh_from_db()
    assert message.state == MessageState.FAILED and message.provider_code == "MK:0005" and "MK:0005" in message.last_error
    assert Message.objects.count() == 1  # the provider had it: a failed delivery starts no fallback


def test_forged_token_is_refused_and_changes_nothing(client):
    message = sent("aliyun_sms", "1^0")
    response = post(client, "aliyun_sms", [aliyun_report("1^0")], token="guess")
    assert response.status_code == 403 and response.json()["error"]["code"] == "receipt_token_invalid"
    # the other provider's reference space is not reachable with this provider's URL either
    assert post(client, "tencent_sms", [tencent_report("1^0")]).status_code == 404
    message.refresh_from_db()
    assert message.state == MessageState.SENT


def test_unknown_reference_is_refused_clearly_and_known_ones_in_the_batch_apply(client):
    message = sent("aliyun_sms", "1^0")
    response = post(client, "aliyun_sms", [aliyun_report("1^0"), aliyun_report("404^0")])
    body = response.json()
    assert response.status_code == 404 and body["error"]["code"] == "unknown_reference"
    assert body["error"]["references"] == ["404^0"] and body["error"]["applied"] == 1
    message.refresh_from_db()
    assert message.state == MessageState.DELIVERED


def test_repeated_report_is_idempotent(client):
    message = sent("aliyun_sms", "1^0")
    assert post(client, "aliyun_sms", [aliyun_report("1^0")]).json()["applied"] == 1
    message.refresh_from_db()
    delivered_at = message.delivered_at
    # the provider repeats it, and then a contradicting late report arrives: the first outcome stands
    again = post(client, "aliyun_sms", [aliyun_report("1^0"), aliyun_report("1^0", success=False, code="MK:0001")])
    assert again.status_code == 200 and again.json()["applied"] == 0 and again.json()["repeated"] == 2
    message.refresh_from_db()
    assert message.state == MessageState.DELIVERED and message.delivered_at == delivered_at and message.provider_code == "DELIVERED"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([{"success": True}], "biz_id"),
        ([{"biz_id": "1^0", "success": "yes"}], "success"),
        ([{"biz_id": "1^0", "success": True, "report_time": "yesterday"}], "report_time"),
        ([], "body"),
        ("text", "body"),
    ],
)
def test_malformed_report_names_the_field_and_changes_nothing(client, payload, field):
    message = sent("aliyun_sms", "1^0")
    response = post(client, "aliyun_sms", payload)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    message.refresh_from_db()
    assert message.state == MessageState.SENT


def test_not_json_get_and_unconfigured_receipts(client, settings):
    url = reverse("api-v1:message-receipts", kwargs={"provider": "aliyun_sms", "token": TOKEN})
    assert client.post(url, "not json", content_type="application/json").status_code == 400
    assert client.get(url).status_code == 405
    assert post(client, "smoke_signals", []).json()["error"]["code"] == "receipts_not_configured"
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "PROVIDERS": {"aliyun_sms": {"RECEIPT_TOKEN": ""}}}
    # with no token configured every token is refused, even one that would match an empty secret
    for token in (TOKEN, "x"):
        response = post(client, "aliyun_sms", [aliyun_report("1^0")], token=token)
        assert response.status_code == 404 and response.json()["error"]["code"] == "receipts_not_configured"


def test_a_lone_surrogate_in_a_report_is_a_400_naming_the_field(client):
    message = sent("aliyun_sms", "1^0")
    url = reverse("api-v1:message-receipts", kwargs={"provider": "aliyun_sms", "token": TOKEN})
    body = '[{"biz_id": "1^0\\ud800", "success": true, "err_code": "DELIVERED", "report_time": "2026-05-01 12:00:05"}]'
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_text" and list(response.json()["error"]["fields"]) == ["0.biz_id"]
    message.refresh_from_db()
    assert message.state == MessageState.SENT
