"""Each provider against a local fake of its API that checks the signature byte for byte and answers like the real one."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from apps.core.errors import ApplicationError
from apps.core.roles import CAMPAIGN_MANAGER
from apps.members.models import ConsentChannel
from apps.messaging import services
from apps.messaging.checks import providers_configured_check
from apps.messaging.member_data import anonymise_messages
from apps.messaging.models import Message, MessageState, MessageTemplate
from apps.messaging.providers import provider_statuses
from tests.members.factories import MemberFactory
from tests.messaging.factories import MessageTemplateFactory
from tests.messaging.fakes import fake_provider

pytestmark = pytest.mark.django_db

NOON_SHANGHAI = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)
ALIYUN = {"ACCESS_KEY_ID": "LTAI5tTestKeyId", "ACCESS_KEY_SECRET": "aliyun-secret-0123456789", "SIGN_NAME": "优途会员", "TIMEOUT": 2}
TENCENT = {
    "SECRET_ID": "AKIDtestsecretid",
    "SECRET_KEY": "tencent-secret-9876543210",
    "SDK_APP_ID": "1400006666",
    "SIGN_NAME": "优途会员",
    "TIMEOUT": 2,
}


def configure(settings, channel_providers, **providers):
    settings.USEROPS_MESSAGING = {
        **settings.USEROPS_MESSAGING,
        "CHANNEL_PROVIDERS": channel_providers,
        "PROVIDERS": {**settings.USEROPS_MESSAGING["PROVIDERS"], **providers},
    }


def sms(member, *, params, template_id="SMS_154950909", key="k1"):
    MessageTemplateFactory(
        code="points", provider_template_id=template_id, provider_params=params, body_en="Hi {{ name }}, +{{ points }} points"
    )
    return services.message_enqueue(member=member, channel="sms", template_code="points", context={"points": 200}, dedupe_key=key)


def send(message):
    services.messages_send_due(now=message.next_attempt_at + timedelta(seconds=1))
    message.refresh_from_db()
    return message


# Aliyun ---------------------------------------------------------------------------------------------------


def test_aliyun_sends_a_signed_send_sms_with_template_code_params_and_sign_name(settings):
    with fake_provider("aliyun", key_id=ALIYUN["ACCESS_KEY_ID"], secret=ALIYUN["ACCESS_KEY_SECRET"]) as fake:
        configure(settings, {"sms": "aliyun_sms"}, aliyun_sms={**ALIYUN, "ENDPOINT": fake.url})
        member = MemberFactory(name="李娜", phone="+8613712345678")
        message = send(sms(member, params={"name": "name", "points": "points"}))
    assert message.state == MessageState.SENT and message.provider == "aliyun_sms"
    assert message.provider_ref == "9006197469364984^1"
    [request] = fake.requests
    assert request.signature_ok and request.method == "POST" and request.body == b"" and "content-type" not in request.headers
    assert request.query == {
        "PhoneNumbers": "13712345678",
        "SignName": "优途会员",
        "TemplateCode": "SMS_154950909",
        "TemplateParam": '{"name":"李娜","points":"200"}',
        "OutId": str(message.pk),
    }
    assert request.headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAI5tTestKeyId,SignedHeaders=host;x-acs-action;")


def test_aliyun_refuses_a_wrong_secret_and_the_message_gives_up(settings):
    with fake_provider("aliyun", key_id=ALIYUN["ACCESS_KEY_ID"], secret="the-real-secret") as fake:
        configure(settings, {"sms": "aliyun_sms"}, aliyun_sms={**ALIYUN, "ENDPOINT": fake.url})
        message = send(sms(MemberFactory(), params={"name": "name"}))
    assert not fake.requests[0].signature_ok
    assert message.state == MessageState.FAILED and message.provider_code == "SignatureDoesNotMatch"
    assert message.attempts == 1


@pytest.mark.parametrize(
    ("code", "state", "attempts_left"),
    [
        ("isv.MOBILE_NUMBER_ILLEGAL", MessageState.FAILED, False),  # invalid number
        ("isv.SMS_TEMPLATE_ILLEGAL", MessageState.FAILED, False),  # give up
        ("isv.AMOUNT_NOT_ENOUGH", MessageState.FAILED, False),  # give up
        ("isv.BUSINESS_LIMIT_CONTROL", MessageState.QUEUED, True),  # rate limited: retry
        ("isp.SYSTEM_ERROR", MessageState.QUEUED, True),  # provider's fault: retry
    ],
)
def test_aliyun_error_codes_are_classified(settings, code, state, attempts_left):
    with fake_provider("aliyun", key_id=ALIYUN["ACCESS_KEY_ID"], secret=ALIYUN["ACCESS_KEY_SECRET"]) as fake:
        fake.errors["13700000001"] = code
        configure(settings, {"sms": "aliyun_sms"}, aliyun_sms={**ALIYUN, "ENDPOINT": fake.url})
        message = send(sms(MemberFactory(phone="+8613700000001"), params={}))
    assert fake.requests[0].signature_ok
    assert message.state == state and message.provider_code == code and code in message.last_error
    if attempts_left:
        assert message.next_attempt_at > message.updated_at - timedelta(seconds=5)


def test_aliyun_server_error_and_timeout_are_retried(settings):
    with fake_provider("aliyun", key_id=ALIYUN["ACCESS_KEY_ID"], secret=ALIYUN["ACCESS_KEY_SECRET"]) as fake:
        configure(settings, {"sms": "aliyun_sms"}, aliyun_sms={**ALIYUN, "ENDPOINT": fake.url, "TIMEOUT": 0.5})
        fake.http_status = 503
        first = send(sms(MemberFactory(), params={}, key="a"))
        fake.http_status, fake.delay = None, 1.5
        second = send(sms(MemberFactory(), params={}, key="b"))
    assert first.state == MessageState.QUEUED and first.attempts == 1 and first.provider_code == "ServiceUnavailable"
    assert second.state == MessageState.QUEUED and second.attempts == 1 and second.provider_code in ("timeout", "connection_error")


def test_international_number_keeps_its_country_code_for_aliyun(settings):
    with fake_provider("aliyun", key_id=ALIYUN["ACCESS_KEY_ID"], secret=ALIYUN["ACCESS_KEY_SECRET"]) as fake:
        configure(settings, {"sms": "aliyun_sms"}, aliyun_sms={**ALIYUN, "ENDPOINT": fake.url})
        send(sms(MemberFactory(phone="+85291234567"), params={}))
    assert fake.requests[0].query["PhoneNumbers"] == "85291234567" and "TemplateParam" not in fake.requests[0].query


# Tencent Cloud --------------------------------------------------------------------------------------------


def test_tencent_sends_a_tc3_signed_send_sms(settings):
    with fake_provider("tencent", key_id=TENCENT["SECRET_ID"], secret=TENCENT["SECRET_KEY"]) as fake:
        configure(settings, {"sms": "tencent_sms"}, tencent_sms={**TENCENT, "ENDPOINT": fake.url})
        member = MemberFactory(name="Han Meimei", phone="+8613712345678")
        message = send(sms(member, params=["name", "points"], template_id="1110"))
    assert message.state == MessageState.SENT and message.provider == "tencent_sms" and message.provider_ref == "2028:f825e6b16e23f73f41231"
    [request] = fake.requests
    assert request.signature_ok
    assert request.headers["x-tc-action"] == "SendSms" and request.headers["x-tc-version"] == "2021-01-11"
    assert request.headers["x-tc-region"] == "ap-guangzhou"
    assert json.loads(request.body) == {
        "PhoneNumberSet": ["+8613712345678"],
        "SmsSdkAppId": "1400006666",
        "SignName": "优途会员",
        "TemplateId": "1110",
        "TemplateParamSet": ["Han Meimei", "200"],
        "SessionContext": str(message.pk),
    }


def test_tencent_refuses_a_wrong_secret(settings):
    with fake_provider("tencent", key_id=TENCENT["SECRET_ID"], secret="the-real-secret") as fake:
        configure(settings, {"sms": "tencent_sms"}, tencent_sms={**TENCENT, "ENDPOINT": fake.url})
        message = send(sms(MemberFactory(), params=[], template_id="1110"))
    assert message.state == MessageState.FAILED and message.provider_code == "AuthFailure.SignatureFailure"


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("InvalidParameterValue.IncorrectPhoneNumber", MessageState.FAILED),
        ("FailedOperation.PhoneNumberInBlacklist", MessageState.FAILED),
        ("FailedOperation.TemplateIncorrectOrUnapproved", MessageState.FAILED),
        ("LimitExceeded.PhoneNumberDailyLimit", MessageState.FAILED),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", MessageState.QUEUED),
        ("InternalError.Timeout", MessageState.QUEUED),
    ],
)
def test_tencent_error_codes_are_classified(settings, code, state):
    with fake_provider("tencent", key_id=TENCENT["SECRET_ID"], secret=TENCENT["SECRET_KEY"]) as fake:
        fake.errors["+8613700000002"] = code
        configure(settings, {"sms": "tencent_sms"}, tencent_sms={**TENCENT, "ENDPOINT": fake.url})
        message = send(sms(MemberFactory(phone="+8613700000002"), params=[], template_id="1110"))
    assert message.state == state and message.provider_code == code


def test_positional_parameters_are_refused_by_aliyun_and_named_ones_by_tencent(settings):
    with fake_provider("tencent", key_id=TENCENT["SECRET_ID"], secret=TENCENT["SECRET_KEY"]) as fake:
        configure(settings, {"sms": "tencent_sms"}, tencent_sms={**TENCENT, "ENDPOINT": fake.url})
        message = send(sms(MemberFactory(), params={"name": "name"}, template_id="1110"))
    assert message.state == MessageState.FAILED and message.provider_code == "template_params" and fake.requests == []


def test_member_without_a_phone_is_an_invalid_recipient_and_never_reaches_the_provider(settings):
    with fake_provider("aliyun", key_id=ALIYUN["ACCESS_KEY_ID"], secret=ALIYUN["ACCESS_KEY_SECRET"]) as fake:
        configure(settings, {"sms": "aliyun_sms"}, aliyun_sms={**ALIYUN, "ENDPOINT": fake.url})
        member = MemberFactory(phone=None)
        MessageTemplateFactory(code="points", provider_template_id="SMS_1")
        # nothing is queued on a channel the member cannot be reached on
        assert services.message_enqueue(member=member, channel="sms", template_code="points", context={}, dedupe_key="x") is None
    assert fake.requests == []


# Email ----------------------------------------------------------------------------------------------------


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_email_goes_through_django_with_the_template_subject(settings):
    configure(settings, {"email": "email"})
    MessageTemplateFactory(code="points", channel=ConsentChannel.EMAIL, subject_en="{{ points }} points for {{ name }}", body_en="Hi")
    member = MemberFactory(name="Li Lei", email="lilei@example.com")
    message = services.message_enqueue(member=member, channel="email", template_code="points", context={"points": 50}, dedupe_key="e")
    message = send(message)
    assert message.state == MessageState.SENT and message.provider == "email"
    assert mail.outbox[0].subject == "50 points for Li Lei" and mail.outbox[0].to == ["lilei@example.com"]
    assert mail.outbox[0].extra_headers["X-UserOps-Message"] == str(message.pk)


# Not configured -------------------------------------------------------------------------------------------


def test_unconfigured_provider_fails_the_message_it_is_never_logged_as_sent(settings):
    configure(settings, {"sms": "aliyun_sms"}, aliyun_sms={**ALIYUN, "ACCESS_KEY_SECRET": ""})
    message = send(sms(MemberFactory(), params={}))
    assert message.state == MessageState.FAILED and message.provider_code == "provider_not_configured"
    assert "aliyun_sms lacks ACCESS_KEY_SECRET" in message.last_error and message.sent_at is None and message.attempts == 0


def test_channel_without_provider_fails_its_messages(settings):
    configure(settings, {"email": "email"})
    message = send(sms(MemberFactory(), params={}))
    assert message.state == MessageState.FAILED and message.provider_code == "provider_not_configured"


def test_status_is_reported_by_the_system_check_and_in_the_back_office(settings, admin_client):
    configure(settings, {"sms": "aliyun_sms", "email": "email"}, aliyun_sms={**ALIYUN, "SIGN_NAME": ""})
    statuses = {s.channel: s for s in provider_statuses()}
    assert not statuses["sms"].configured and statuses["sms"].problem == "aliyun_sms lacks SIGN_NAME"
    assert statuses["email"].configured and not statuses["push"].configured
    warnings = providers_configured_check(None)
    assert [w.id for w in warnings] == ["userops.W010"] and "sms" in warnings[0].msg  # push is not in use
    MessageTemplateFactory(code="app", channel=ConsentChannel.PUSH)
    assert {w.obj for w in providers_configured_check(None, databases=["default"])} == {"channel sms", "channel push"}
    for url in (reverse("admin:messaging_message_changelist"), reverse("admin:messaging_messagetemplate_changelist")):
        page = admin_client.get(url).content.decode()
        assert 'data-channel="sms" data-configured="no"' in page and "<code>aliyun_sms</code>" in page and "<code>SIGN_NAME</code>" in page
        assert 'data-channel="email" data-configured="yes"' in page


def test_check_command_names_the_unconfigured_channel(settings, capsys):
    configure(settings, {"sms": "tencent_sms"}, tencent_sms={})
    call_command("check")
    assert "userops.W010" in capsys.readouterr().err
    assert Message.objects.count() == 0


def test_template_parameters_must_name_message_variables():
    for mapping, shown in (
        ({"name": "phone"}, "phone"),
        (["name", "member.phone"], "member.phone"),
        ("name", "name"),
        ({"": "name"}, "{'': 'name'}"),
    ):
        template = MessageTemplateFactory.build(code="bad", provider_template_id="SMS_1", provider_params=mapping)
        with pytest.raises(ApplicationError) as exc:
            services.message_template_save(template=template)
        assert exc.value.code == "invalid_provider_params" and exc.value.fields == {"provider_params": shown}
    assert not MessageTemplate.objects.filter(code="bad").exists()


def test_anonymising_scrubs_the_resolved_template_parameters(settings):
    configure(settings, {"sms": "log"})
    member = MemberFactory(name="李娜")
    message = sms(member, params={"name": "name"})
    assert message.provider_params == {"name": "李娜"}
    anonymise_messages(member)
    message.refresh_from_db()
    assert message.provider_params is None and message.context == {} and "李娜" not in message.body


def test_back_office_saves_provider_template_fields_and_refuses_unknown_variables_on_the_field(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    data = {
        "code": "points_sms",
        "channel": ConsentChannel.SMS,
        "subject_en": "",
        "subject_zh_hans": "",
        "body_en": "Hi {{ name }}, +{{ points }}",
        "body_zh_hans": "{{ name }}，+{{ points }}",
        "provider_template_id": "1110",
        "provider_params": '["name", "phone"]',
        "is_active": "on",
    }
    response = client.post(reverse("admin:messaging_messagetemplate_add"), data)
    assert response.status_code == 200 and "phone is not a message variable" in response.content.decode()
    assert not MessageTemplate.objects.filter(code="points_sms").exists()
    response = client.post(reverse("admin:messaging_messagetemplate_add"), {**data, "provider_params": '["name", "points"]'})
    assert response.status_code == 302
    template = MessageTemplate.objects.get(code="points_sms")
    assert template.provider_template_id == "1110" and template.provider_params == ["name", "points"]
