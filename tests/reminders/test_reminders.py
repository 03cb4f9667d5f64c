"""Expiry reminders: one summarised message per member, through the fallback order, each sent once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.benefits.models import GrantState
from apps.members import services as member_services
from apps.members.models import ConsentChannel, Member, MemberStatus
from apps.messaging.models import Message, MessageTemplate
from apps.reminders import services
from apps.reminders.tasks import send_due
from tests.benefits.factories import BenefitFactory, GrantFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def channels(settings):
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "CHANNEL_PROVIDERS": {"sms": "log", "email": "email"}}
    settings.USEROPS_REMINDERS = {"POINTS_EXPIRING_DAYS": 7, "BENEFITS_EXPIRING_DAYS": 3, "CHANNEL": "sms"}


def earn(member, amount, days):
    member_services.points_earn(member=member, amount=amount, reason="Purchase", expires_at=timezone.now() + timedelta(days=days))


def test_templates_are_seeded_in_both_languages():
    for code in ("points_expiring", "benefit_expiring"):
        for channel in ("sms", "email", "push"):
            template = MessageTemplate.objects.get(code=code, channel=channel)
            assert template.body_en and template.body_zh_hans


def test_points_expiring_are_summarised_per_member_once(settings):
    member, later, spent_out = MemberFactory(name="Li Na"), MemberFactory(), MemberFactory()
    earn(member, 100, days=2)
    earn(member, 50, days=5)
    earn(member, 999, days=30)  # outside the window: not mentioned
    earn(later, 80, days=20)
    earn(spent_out, 40, days=3)
    member_services.points_spend(member=spent_out, amount=40, reason="Mall")
    assert services.reminders_points_expiring() == 1
    [message] = Message.objects.filter(template_code="points_expiring")
    expires = (timezone.now() + timedelta(days=2)).astimezone(timezone.get_default_timezone()).date().isoformat()
    assert message.member_id == member.pk and message.channel == "sms"
    assert message.body == f"Li Na, 150 of your points expire on {expires}. Use them in the points mall before then."
    assert message.dedupe_key == f"points_expiring:{member.pk}:{expires}"
    # running again (the same day, or after a crash) sends nothing twice
    assert services.reminders_points_expiring() == 0
    assert Message.objects.filter(template_code="points_expiring").count() == 1


def test_benefit_reminder_names_the_first_and_counts_the_rest_in_chinese_too(settings):
    settings.LANGUAGE_CODE = "zh-hans"
    member = MemberFactory(name="王芳")
    soon, later = BenefitFactory(name="咖啡券", name_zh_hans="咖啡券"), BenefitFactory(name="洗车券", name_zh_hans="洗车券")
    GrantFactory(member=member, benefit=later, valid_until=timezone.now() + timedelta(days=2))
    GrantFactory(member=member, benefit=soon, valid_until=timezone.now() + timedelta(days=1))
    GrantFactory(member=member, benefit=soon, valid_until=timezone.now() + timedelta(days=1), state=GrantState.REDEEMED)
    GrantFactory(member=MemberFactory(), benefit=soon, valid_until=timezone.now() + timedelta(days=10))
    assert services.reminders_benefits_expiring() == 1
    message = Message.objects.get(template_code="benefit_expiring")
    assert message.body.startswith("王芳，您有 2 项权益即将到期，最早的「咖啡券」将于 ")


def test_reminders_follow_the_fallback_order_and_skip_closed_members(settings):
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "FALLBACK_ORDER": {"points_expiring": ["sms", "email"]}}
    no_phone, closed = MemberFactory(phone=None, email="a@example.com"), MemberFactory()
    earn(no_phone, 10, days=1)
    earn(closed, 10, days=1)
    Member.objects.filter(pk=closed.pk).update(status=MemberStatus.CLOSED)  # its points stay, the member is gone
    assert services.reminders_points_expiring() == 1
    message = Message.objects.get(template_code="points_expiring")
    assert message.member_id == no_phone.pk and message.channel == ConsentChannel.EMAIL


def test_the_beat_task_runs_both_kinds():
    earn(MemberFactory(), 10, days=1)
    GrantFactory(member=MemberFactory(), benefit=BenefitFactory(), valid_until=timezone.now() + timedelta(days=1))
    assert send_due() == {"points_expiring": 1, "benefits_expiring": 1}
    assert send_due() == {"points_expiring": 0, "benefits_expiring": 0}
