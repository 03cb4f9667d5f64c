"""Reminders: one summarised message per member, through the fallback order, each sent once."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.benefits.models import GrantState
from apps.members import services as member_services
from apps.members.models import ConsentChannel, Member, MemberStatus, Tier
from apps.messaging.models import Message, MessageTemplate
from apps.reminders import services
from apps.reminders.tasks import send_due
from tests.benefits.factories import BenefitFactory, GrantFactory
from tests.members.factories import GrowthEntryFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def channels(settings):
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "CHANNEL_PROVIDERS": {"sms": "log", "email": "email"}}
    settings.USEROPS_REMINDERS = {"POINTS_EXPIRING_DAYS": 7, "BENEFITS_EXPIRING_DAYS": 3, "TIER_DROPPING_DAYS": 14, "CHANNEL": "sms"}


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


def tier(code: str) -> Tier:
    return Tier.objects.get(code=code)


def member_at(code: str, *, reached_days_ago: int, growth: int = 0, growth_days_ago: int = 0, **fields) -> Member:
    """A member holding tier ``code`` since ``reached_days_ago``, with ``growth`` earned ``growth_days_ago``."""
    member = MemberFactory(tier=tier(code), tier_achieved_at=timezone.now() - timedelta(days=reached_days_ago), **fields)
    if growth:
        GrowthEntryFactory(member=member, amount=growth, created_at=timezone.now() - timedelta(days=growth_days_ago))
    return member


def test_the_beat_task_runs_every_kind():
    earn(MemberFactory(), 10, days=1)
    GrantFactory(member=MemberFactory(), benefit=BenefitFactory(), valid_until=timezone.now() + timedelta(days=1))
    member_at("gold", reached_days_ago=360, growth=6000, growth_days_ago=360)
    assert send_due() == {"points_expiring": 1, "benefits_expiring": 1, "tier_dropping": 1}
    assert send_due() == {"points_expiring": 0, "benefits_expiring": 0, "tier_dropping": 0}


class TestTierAboutToDrop:
    def test_the_template_is_seeded_in_both_languages(self):
        for channel in ("sms", "email", "push"):
            template = MessageTemplate.objects.get(code="tier_dropping", channel=channel)
            assert template.body_en and template.body_zh_hans and "{{ drops_on }}" in template.body_zh_hans

    def test_only_members_the_evaluation_would_move_down_are_reminded_once(self):
        gold = tier("gold")
        # guarantee ends in 5 days and the growth that earned gold leaves the window then: gold would drop
        dropping = member_at("gold", reached_days_ago=360, growth=gold.threshold, growth_days_ago=360, name="Li Na")
        member_at("gold", reached_days_ago=360, growth=gold.threshold, growth_days_ago=30)  # still qualifies
        member_at("gold", reached_days_ago=100)  # guaranteed beyond the window
        member_at("gold", reached_days_ago=400, tier_assigned_until=timezone.now() + timedelta(days=60))  # assigned by staff
        member_at("basic", reached_days_ago=900)  # the lowest tier cannot drop
        member_at("gold", reached_days_ago=400, status=MemberStatus.FROZEN)  # the evaluation leaves frozen members alone
        assert services.reminders_tier_dropping() == 1
        [message] = Message.objects.filter(template_code="tier_dropping")
        drops_on = (timezone.now() + timedelta(days=14)).astimezone(timezone.get_default_timezone()).date().isoformat()
        assert message.member_id == dropping.pk and message.channel == "sms"
        assert message.body == (
            f"Li Na, your Gold tier is due for review on {drops_on} and would move down as things stand."
            f" Earn {gold.threshold} more growth value before then to keep it."
        )
        # the next day's run, and every run in the same tier period, sends nothing again
        assert services.reminders_tier_dropping(now=timezone.now() + timedelta(days=1)) == 0
        assert Message.objects.filter(template_code="tier_dropping").count() == 1

    def test_a_member_is_reminded_again_in_the_next_period_at_risk(self, settings):
        member = member_at("gold", reached_days_ago=720)  # past two guarantee lengths, with nothing in the window
        assert services.reminders_tier_dropping() == 1
        assert services.reminders_tier_dropping(now=timezone.now() + timedelta(days=settings.USEROPS["TIER_GUARANTEE_DAYS"])) == 1
        keys = list(Message.objects.filter(member=member, template_code="tier_dropping").values_list("dedupe_key", flat=True))
        assert len(set(keys)) == 2

    def test_a_drop_for_another_reason_than_growth_names_no_growth_and_reads_in_chinese(self, settings):
        settings.LANGUAGE_CODE = "zh-hans"
        gold = tier("gold")
        gold.min_purchases = 3
        gold.save()
        member_at("gold", reached_days_ago=400, growth=gold.threshold, growth_days_ago=10, name="王芳")
        assert services.reminders_tier_dropping() == 1
        message = Message.objects.get(template_code="tier_dropping")
        assert message.body.startswith("王芳，您的会员等级「金卡会员」将于 ") and message.body.endswith("按目前情况将会下调。")

    def test_it_follows_the_kinds_fallback_order(self, settings):
        settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "FALLBACK_ORDER": {"tier_dropping": ["email", "sms"]}}
        with_email, without_email = member_at("gold", reached_days_ago=400), member_at("gold", reached_days_ago=400, email="")
        assert services.reminders_tier_dropping() == 2
        channels = dict(Message.objects.filter(template_code="tier_dropping").values_list("member_id", "channel"))
        assert channels == {with_email.pk: ConsentChannel.EMAIL, without_email.pk: ConsentChannel.SMS}

    def test_selection_is_set_based(self):
        def queries_for(count: int) -> int:
            Message.objects.all().delete()
            for _ in range(count):
                member_at("gold", reached_days_ago=400)
            with CaptureQueriesContext(connection) as queries:
                services.reminders_tier_dropping(chunk_size=1000)
            return len(queries)

        assert queries_for(2) == queries_for(20)
