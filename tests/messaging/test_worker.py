"""A real Celery worker sends a queued SMS through Tencent Cloud SMS (its local fake), configured from the environment."""

from collections.abc import Iterator

import pytest

from apps.messaging import services
from apps.messaging.models import Message, MessageState
from apps.messaging.tasks import send_due
from tests.conftest import wait_for
from tests.members.factories import MemberFactory
from tests.messaging.factories import MessageTemplateFactory
from tests.messaging.fakes import FakeProvider, fake_provider

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tencent_from_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """The fake endpoint, and the worker's environment pointing at it (set before the worker starts)."""
    with fake_provider("tencent", key_id="AKIDworker", secret="worker-secret") as fake:
        for name, value in {
            "USEROPS_MESSAGE_CHANNEL_PROVIDERS": "sms=tencent_sms",
            "USEROPS_TENCENT_SMS_SECRET_ID": "AKIDworker",
            "USEROPS_TENCENT_SMS_SECRET_KEY": "worker-secret",
            "USEROPS_TENCENT_SMS_SDK_APP_ID": "1400000001",
            "USEROPS_TENCENT_SMS_SIGN_NAME": "优途会员",
            "USEROPS_TENCENT_SMS_ENDPOINT": fake.url,
        }.items():
            monkeypatch.setenv(name, value)
        yield fake


def test_worker_sends_through_the_configured_provider(tencent_from_env, celery_worker_process):
    MessageTemplateFactory(code="points", provider_template_id="1110", provider_params=["name"])
    member = MemberFactory(name="Zhao Lei", phone="+8613755550000")
    message = services.message_enqueue(member=member, channel="sms", template_code="points", context={}, dedupe_key="w1")
    send_due.delay()
    wait_for(lambda: Message.objects.get(pk=message.pk).state == MessageState.SENT, timeout=90, what="the message to be sent")
    message.refresh_from_db()
    assert message.provider == "tencent_sms" and message.provider_ref.startswith("2028:")
    [request] = tencent_from_env.requests
    assert request.signature_ok and b'"TemplateParamSet":["Zhao Lei"]' in request.body
