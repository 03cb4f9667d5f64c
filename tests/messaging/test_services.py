from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import override_settings

from apps.core.errors import ApplicationError
from apps.members.models import Consent, ConsentChannel, MemberStatus
from apps.messaging import services
from apps.messaging.backends import SendError
from apps.messaging.models import Message, MessagePurpose, MessageState
from tests.members.factories import ConsentFactory, MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

# 12:00 in Shanghai, outside the default quiet hours (21:00–08:00).
NOON_SHANGHAI = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)


class FailingBackend:
    calls = 0

    def send(self, message: Message) -> str:
        FailingBackend.calls += 1
        raise SendError("provider down")


@pytest.fixture(autouse=True)
def log_providers(settings):
    """SMS and push go to the log provider here; tests/messaging/test_providers.py runs the real ones."""
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "CHANNEL_PROVIDERS": {"sms": "log", "push": "log", "email": "email"}}


def enqueue(member, **kwargs):
    defaults = {"channel": ConsentChannel.SMS, "template_code": "welcome", "context": {"benefit_code": "ABC"}, "dedupe_key": "k1"}
    return services.message_enqueue(member=member, **{**defaults, **kwargs})


def test_enqueue_renders_variables_in_the_language():
    MessageTemplateFactory()
    member = MemberFactory(name="Li Lei")
    english = enqueue(member)
    chinese = enqueue(member, dedupe_key="k2", language="zh-hans")
    assert english.body.startswith("Hi Li Lei, you are Basic. Code ABC. Stop: http://localhost:8000/api/v1/unsubscribe/")
    assert english.unsubscribe_token in english.body
    assert chinese.body.startswith("Li Lei您好")
    assert english.state == MessageState.QUEUED and english.purpose == MessagePurpose.SERVICE


def test_same_dedupe_key_never_queues_twice():
    MessageTemplateFactory()
    member = MemberFactory()
    assert enqueue(member) is not None
    assert enqueue(member) is None
    assert Message.objects.count() == 1


def test_marketing_needs_consent_for_that_channel():
    MessageTemplateFactory()
    member = MemberFactory()
    ConsentFactory(member=member, channel=ConsentChannel.EMAIL, granted=True)
    assert services.message_skip_reason(member=member, channel="sms", purpose="marketing") == services.SkipReason.NO_CONSENT
    assert enqueue(member, purpose=MessagePurpose.MARKETING) is None
    ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    assert enqueue(member, purpose=MessagePurpose.MARKETING) is not None


def test_marketing_skips_frozen_members_and_service_does_not():
    MessageTemplateFactory()
    member = MemberFactory(status=MemberStatus.FROZEN)
    ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    assert services.message_skip_reason(member=member, channel="sms", purpose="marketing") == services.SkipReason.MEMBER_INACTIVE
    assert enqueue(member, purpose=MessagePurpose.SERVICE) is not None


def test_unknown_template_and_channel_are_errors():
    member = MemberFactory()
    with pytest.raises(ApplicationError) as exc:
        enqueue(member, template_code="nope")
    assert exc.value.code == "template_not_found"
    with pytest.raises(ApplicationError) as exc:
        enqueue(member, channel="fax")
    assert exc.value.code == "invalid_channel"


def test_bulk_enqueue_filters_consent_in_sql_and_is_idempotent():
    MessageTemplateFactory()
    consenting = [MemberFactory() for _ in range(3)]
    for member in consenting:
        ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    silent = MemberFactory()
    ids = [m.pk for m in [*consenting, silent]]
    kwargs = {"channel": "sms", "template_code": "welcome", "context": {}, "purpose": "marketing", "dedupe_prefix": "c1"}
    assert services.messages_enqueue_bulk(member_ids=ids, **kwargs) == 3
    assert services.messages_enqueue_bulk(member_ids=ids, **kwargs) == 0
    assert not Message.objects.filter(member=silent).exists()


def test_send_due_sends_and_records():
    MessageTemplateFactory()
    message = enqueue(MemberFactory())
    summary = services.messages_send_due(now=NOON_SHANGHAI + timedelta(days=365))
    message.refresh_from_db()
    assert summary.sent == 1
    assert message.state == MessageState.SENT and message.attempts == 1 and message.provider_ref.startswith("log-")
    services.message_mark_delivered(message=message)
    message.refresh_from_db()
    assert message.state == MessageState.DELIVERED
    with pytest.raises(ApplicationError):
        services.message_mark_delivered(message=message)


def test_email_goes_through_django_email_backend():
    MessageTemplateFactory(channel=ConsentChannel.EMAIL, subject_en="Hello {{ name }}")
    member = MemberFactory(name="Han Meimei", email="han@example.com")
    enqueue(member, channel="email")
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        services.messages_send_due()
    assert mail.outbox[0].subject == "Hello Han Meimei" and mail.outbox[0].to == ["han@example.com"]


def test_failures_retry_with_exponential_back_off_then_fail(settings):
    settings.USEROPS_MESSAGING = {
        **settings.USEROPS_MESSAGING,
        "CHANNEL_PROVIDERS": {"sms": "tests.messaging.test_services.FailingBackend"},
    }
    MessageTemplateFactory()
    message = enqueue(MemberFactory())
    now = message.next_attempt_at
    delays = []
    for _attempt in range(5):
        services.messages_send_due(now=now)
        message.refresh_from_db()
        if message.state == MessageState.FAILED:
            break
        delays.append(message.next_attempt_at - now)
        now = message.next_attempt_at
    assert delays == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240), timedelta(seconds=480)]
    assert message.state == MessageState.FAILED and message.attempts == 5 and message.last_error == "provider down"


def test_quiet_hours_postpone_marketing_sms_only():
    MessageTemplateFactory()
    member = MemberFactory()
    ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    marketing = enqueue(member, purpose="marketing", dedupe_key="m")
    service = enqueue(member, dedupe_key="s")
    night = datetime(2027, 5, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    summary = services.messages_send_due(now=night)
    marketing.refresh_from_db()
    service.refresh_from_db()
    assert summary.postponed == 1 and summary.sent == 1
    assert marketing.state == MessageState.QUEUED and marketing.attempts == 0
    assert marketing.next_attempt_at == datetime(2027, 5, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert service.state == MessageState.SENT


def test_consent_withdrawn_after_queueing_is_respected_at_send_time():
    MessageTemplateFactory()
    member = MemberFactory()
    consent = ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    message = enqueue(member, purpose="marketing")
    Consent.objects.filter(pk=consent.pk).update(granted=False)
    services.messages_send_due(now=NOON_SHANGHAI + timedelta(days=365))
    message.refresh_from_db()
    assert message.state == MessageState.FAILED and message.last_error == "no_consent"


def test_unsubscribe_withdraws_that_channel_and_drops_queued_marketing():
    MessageTemplateFactory()
    member = MemberFactory()
    ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    ConsentFactory(member=member, channel=ConsentChannel.EMAIL, granted=True)
    first = enqueue(member, purpose="marketing", dedupe_key="a")
    second = enqueue(member, purpose="marketing", dedupe_key="b")
    services.message_unsubscribe(token=first.unsubscribe_token)
    assert not Consent.objects.get(member=member, channel="sms").granted
    assert Consent.objects.get(member=member, channel="email").granted
    second.refresh_from_db()
    assert second.state == MessageState.FAILED
    with pytest.raises(ApplicationError) as exc:
        services.message_unsubscribe(token="nope")
    assert exc.value.code == "unsubscribe_token_invalid"


def test_template_save_rejects_broken_syntax():
    template = MessageTemplateFactory.build(code="broken", body_en="Hi {% if %}")
    with pytest.raises(ApplicationError) as exc:
        services.message_template_save(template=template)
    assert exc.value.code == "invalid_template"
