from datetime import timedelta

import pytest
from django.utils import timezone

from apps.events import services
from apps.events.models import Registration, RegistrationState
from apps.members import services as member_services
from apps.messaging.models import Message, MessagePurpose, MessageTemplate
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def messages_to(member, template_code):
    return Message.objects.filter(member=member, template_code=template_code)


class TestWaitlistPromotion:
    def test_promoted_member_is_told_once_in_the_outbox(self):
        event = EventFactory(capacity=1, title="Charity ride")
        seated_member, waiting_member, still_waiting = MemberFactory.create_batch(3)
        seated = services.registration_create(event=event, member=seated_member)
        services.registration_create(event=event, member=waiting_member)
        services.registration_create(event=event, member=still_waiting)

        services.registration_cancel(registration=seated)

        message = messages_to(waiting_member, "event_promoted").get()
        assert message.channel == "sms" and message.purpose == MessagePurpose.SERVICE
        assert "Charity ride" in message.body and waiting_member.name in message.body
        assert not messages_to(still_waiting, "event_promoted").exists()
        assert not messages_to(seated_member, "event_promoted").exists()

    def test_service_messages_do_not_need_marketing_consent(self, settings):
        settings.USEROPS_EVENTS = {**settings.USEROPS_EVENTS, "NOTIFY_CHANNELS": ["sms", "push"]}
        event = EventFactory(capacity=1)
        seated = services.registration_create(event=event, member=MemberFactory())
        waiting_member = MemberFactory()
        services.registration_create(event=event, member=waiting_member)
        services.registration_cancel(registration=seated)
        assert sorted(messages_to(waiting_member, "event_promoted").values_list("channel", flat=True)) == ["push", "sms"]

    def test_a_missing_template_never_undoes_the_promotion(self):
        MessageTemplate.objects.filter(code="event_promoted").update(is_active=False)
        event = EventFactory(capacity=1)
        seated = services.registration_create(event=event, member=MemberFactory())
        waiting_member = MemberFactory()
        services.registration_create(event=event, member=waiting_member)
        assert [r.member for r in services.registration_cancel(registration=seated)] == [waiting_member]
        assert not Message.objects.filter(template_code="event_promoted").exists()


class TestEventCancelled:
    def test_every_registrant_and_waitlisted_member_is_told_with_the_refund(self):
        event = EventFactory(capacity=1, points_price=100, title="Test-drive day")
        paid, waiting = MemberFactory.create_batch(2)
        for member in (paid, waiting):
            member_services.points_earn(member=member, amount=100, reason="Purchase")
            services.registration_create(event=event, member=member)

        services.event_cancel(event=event, reason="Typhoon warning")

        paid_message = messages_to(paid, "event_cancelled").get()
        assert "Typhoon warning" in paid_message.body and "100 points" in paid_message.body
        waiting_message = messages_to(waiting, "event_cancelled").get()
        assert "Typhoon warning" in waiting_message.body and "points" not in waiting_message.body

    def test_messages_are_in_the_programme_language(self, settings):
        settings.LANGUAGE_CODE = "zh-hans"
        event = EventFactory(title="试驾日")
        member = MemberFactory()
        services.registration_create(event=event, member=member)
        services.event_cancel(event=event, reason="台风预警")
        message = messages_to(member, "event_cancelled").get()
        assert message.language == "zh-hans" and "很抱歉" in message.body and "试驾日" in message.body


class TestReminders:
    def test_seated_members_of_events_starting_soon_get_one_reminder(self):
        now = timezone.now()
        soon = EventFactory(
            starts_at=now + timedelta(hours=20),
            registration_closes_at=now + timedelta(hours=19),
            cancellation_deadline=now + timedelta(hours=10),
            capacity=1,
            venue="UserOps House",
        )
        later = EventFactory(starts_at=now + timedelta(days=5))
        seated, waiting, other = MemberFactory.create_batch(3)
        services.registration_create(event=soon, member=seated)
        services.registration_create(event=soon, member=waiting)
        services.registration_create(event=later, member=other)

        assert services.events_send_reminders(now=now) == 1
        assert services.events_send_reminders(now=now) == 0

        reminder = messages_to(seated, "event_reminder").get()
        assert "UserOps House" in reminder.body
        assert not messages_to(waiting, "event_reminder").exists()
        assert not messages_to(other, "event_reminder").exists()

    def test_cancelled_events_and_events_already_started_get_none(self):
        now = timezone.now()
        started = EventFactory(starts_at=now - timedelta(minutes=5), registration_opens_at=now - timedelta(days=2))
        cancelled = EventFactory(starts_at=now + timedelta(hours=2), registration_closes_at=now + timedelta(hours=1))
        Registration.objects.create(event=started, member=MemberFactory(), state=RegistrationState.REGISTERED)
        services.registration_create(event=cancelled, member=MemberFactory())
        services.event_cancel(event=cancelled, reason="Venue flooded")
        assert services.events_send_reminders(now=now) == 0
        assert not Message.objects.filter(template_code="event_reminder").exists()
