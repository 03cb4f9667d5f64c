"""Send policy: frequency caps across channels, quiet hours per channel, fallback order per message kind."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from apps.members.models import ConsentChannel
from apps.messaging import policy, services
from apps.messaging.models import Message, MessageState, MessageTemplate
from apps.messaging.providers import SendError, SendErrorKind
from tests.members.factories import ConsentFactory, MemberFactory
from tests.members.test_concurrency import run_at_once
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

# 12:00 in Shanghai: outside every quiet window used here.
NOON = datetime(2027, 5, 5, 4, 0, tzinfo=UTC)


class GiveUpProvider:
    calls = 0

    def send(self, message):
        GiveUpProvider.calls += 1
        raise SendError("isv.SMS_TEMPLATE_ILLEGAL: template refused", kind=SendErrorKind.GIVE_UP, code="isv.SMS_TEMPLATE_ILLEGAL")


class RetryProvider:
    def send(self, message):
        raise SendError("busy", code="isp.SYSTEM_ERROR")


def configure(settings, **values):
    settings.USEROPS_MESSAGING = {
        **settings.USEROPS_MESSAGING,
        "CHANNEL_PROVIDERS": {"sms": "log", "push": "log", "email": "email"},
        "EMAIL": None,
        **values,
    }


@pytest.fixture(autouse=True)
def providers(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    configure(settings)


def templates(code="promo", channels=(ConsentChannel.SMS, ConsentChannel.EMAIL, ConsentChannel.PUSH)):
    for channel in channels:
        MessageTemplateFactory(code=code, channel=channel, subject_en="News", body_en=f"{channel}: hello {{{{ name }}}}")


def member_with_consent(*channels, **fields):
    member = MemberFactory(**fields)
    for channel in channels:
        ConsentFactory(member=member, channel=channel, granted=True)
    return member


def enqueue(member, key, channel="sms", purpose="marketing", code="promo"):
    return services.message_enqueue(member=member, channel=channel, template_code=code, context={}, dedupe_key=key, purpose=purpose)


# Frequency caps -------------------------------------------------------------------------------------------


def test_daily_cap_counts_every_channel_and_spares_service_messages(settings):
    configure(settings, CAP_PER_DAY=2)
    templates()
    member = member_with_consent("sms", "email")
    assert enqueue(member, "a", "sms") and enqueue(member, "b", "email")
    assert enqueue(member, "c", "sms") is None and enqueue(member, "d", "email") is None
    assert enqueue(member, "e", "sms", purpose="service") is not None
    other = member_with_consent("sms")
    assert enqueue(other, "f", "sms") is not None  # caps are per member


def test_service_messages_count_when_configured_and_failed_ones_never_count(settings):
    configure(settings, CAP_PER_DAY=1, CAP_SERVICE_MESSAGES=True)
    templates()
    member = member_with_consent("sms")
    first = enqueue(member, "a", purpose="service")
    assert enqueue(member, "b", purpose="service") is None
    Message.objects.filter(pk=first.pk).update(state=MessageState.FAILED)
    assert enqueue(member, "c", purpose="service") is not None


def test_day_and_week_caps_follow_the_local_calendar(settings):
    configure(settings, CAP_PER_DAY=1, CAP_PER_WEEK=2)
    templates()
    member = member_with_consent("sms")
    now = datetime.now(policy.messaging_zone())
    day_start, week_start = policy.cap_windows(now)
    first = enqueue(member, "a")
    assert enqueue(member, "b") is None  # the day is used up
    Message.objects.filter(pk=first.pk).update(created_at=day_start - timedelta(minutes=1))
    if day_start == week_start:  # today is Monday: yesterday belongs to last week
        assert enqueue(member, "c") is not None
        return
    second = enqueue(member, "c")
    assert second is not None  # yesterday's message counts for the week, not for today
    Message.objects.filter(pk=second.pk).update(created_at=day_start - timedelta(minutes=2))
    assert enqueue(member, "d") is None  # two this week
    Message.objects.filter(member=member).update(created_at=week_start - timedelta(minutes=1))
    assert enqueue(member, "e") is not None  # last week's do not count


def test_bulk_enqueue_applies_the_cap_in_one_pass_and_keeps_the_fallback_order(settings):
    configure(settings, CAP_PER_DAY=1, FALLBACK_ORDER={"promo": ["push", "sms", "email"]})
    templates()
    capped, free = member_with_consent("sms"), member_with_consent("sms")
    enqueue(capped, "earlier", "sms")
    queued = services.messages_enqueue_bulk(
        member_ids=[capped.pk, free.pk], channel="sms", template_code="promo", context={}, purpose="marketing", dedupe_prefix="c1"
    )
    assert queued == 1 and Message.objects.filter(member=capped).count() == 1
    # the kind has an order, so each member's message is routed through it: sms is the first this member consented to
    message = Message.objects.get(member=free)
    assert message.channel == "sms" and message.fallback_channels == ["email"] and message.dedupe_key == f"c1:{free.pk}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_cap_holds_under_concurrent_senders(settings):
    configure(settings, CAP_PER_DAY=1)
    templates()
    member = member_with_consent("sms")

    def send(index: int) -> str:
        return "queued" if enqueue(member, f"race-{index}") else "capped"

    outcomes = run_at_once(send)
    assert outcomes["queued"] == 1 and Message.objects.filter(member=member).count() == 1


# Quiet hours per channel ----------------------------------------------------------------------------------


def test_quiet_hours_per_channel_with_the_global_window_as_default(settings):
    configure(settings, QUIET_HOURS=["21:00", "08:00"], QUIET_HOURS_BY_CHANNEL={"sms": "22:00-07:00", "email": "off"})
    templates()
    member = member_with_consent("sms", "email", "push")
    messages = {channel: enqueue(member, channel, channel) for channel in ("sms", "email", "push")}
    half_past_nine = datetime(2027, 5, 1, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    summary = services.messages_send_due(now=half_past_nine)
    for message in messages.values():
        message.refresh_from_db()
    assert summary.sent == 2 and summary.postponed == 1
    assert messages["sms"].state == MessageState.SENT and messages["email"].state == MessageState.SENT
    assert messages["push"].state == MessageState.QUEUED and messages["push"].next_attempt_at == datetime(2027, 5, 2, 0, 0, tzinfo=UTC)
    assert policy.quiet_hours_end(datetime(2027, 5, 1, 15, 0, tzinfo=UTC), "sms") == datetime(2027, 5, 1, 23, 0, tzinfo=UTC)
    assert policy.quiet_hours_end(datetime(2027, 5, 1, 15, 0, tzinfo=UTC), "email") is None


def test_service_messages_ignore_quiet_hours(settings):
    configure(settings, QUIET_HOURS_BY_CHANNEL={"sms": "00:00-23:59"})
    templates()
    message = enqueue(MemberFactory(), "s", purpose="service")
    services.messages_send_due(now=NOON)
    message.refresh_from_db()
    assert message.state == MessageState.SENT


def test_a_window_that_is_not_two_times_is_refused():
    with pytest.raises(ValueError, match="two times"):
        policy.parse_window("21:00")


# Fallback order -------------------------------------------------------------------------------------------


def test_kind_order_picks_the_first_channel_the_member_consented_to(settings):
    configure(settings, FALLBACK_ORDER={"promo": ["push", "sms", "email"]})
    templates()
    member = member_with_consent("sms", "email")
    message = enqueue(member, "a", channel=None)
    assert message.channel == "sms" and message.fallback_channels == ["email"]


def test_no_identity_and_no_template_pass_to_the_next_channel(settings):
    configure(settings, FALLBACK_ORDER={"promo": ["push", "sms", "email"]})
    templates(channels=("sms", "email"))
    member = member_with_consent("push", "sms", "email", phone=None)
    message = enqueue(member, "a", channel=None)
    assert message.channel == "email" and message.fallback_channels == []


def test_provider_giving_up_falls_back_and_the_message_is_sent_once(settings):
    configure(
        settings,
        FALLBACK_ORDER={"promo": ["sms", "email"]},
        CHANNEL_PROVIDERS={"sms": "tests.messaging.test_policy.GiveUpProvider", "email": "email"},
    )
    templates()
    member = member_with_consent("sms", "email", email="wang@example.com")
    GiveUpProvider.calls = 0
    first = enqueue(member, "reminder-1", channel=None)
    summary = services.messages_send_due(now=NOON)
    assert summary.failed == 1 and summary.fallbacks == 1
    first.refresh_from_db()
    assert first.state == MessageState.FAILED and first.provider_code == "isv.SMS_TEMPLATE_ILLEGAL"
    fallback = Message.objects.get(dedupe_key="reminder-1>email")
    assert fallback.channel == "email" and fallback.state == MessageState.QUEUED and fallback.body == "email: hello " + member.name
    services.messages_send_due(now=NOON)
    services.messages_send_due(now=NOON + timedelta(hours=1))
    fallback.refresh_from_db()
    assert fallback.state == MessageState.SENT and len(mail.outbox) == 1 and GiveUpProvider.calls == 1
    assert Message.objects.filter(member=member).count() == 2


def test_unconfigured_channel_falls_back_to_the_next(settings):
    configure(settings, FALLBACK_ORDER={"promo": ["push", "sms"]}, CHANNEL_PROVIDERS={"sms": "log"})
    templates()
    member = member_with_consent("push", "sms")
    first = enqueue(member, "k", channel=None)
    services.messages_send_due(now=NOON)
    services.messages_send_due(now=NOON)
    first.refresh_from_db()
    assert first.channel == "push" and first.state == MessageState.FAILED and first.provider_code == "provider_not_configured"
    assert Message.objects.get(dedupe_key="k>sms").state == MessageState.SENT


def test_retryable_errors_retry_on_the_same_channel_before_falling_back(settings):
    configure(
        settings,
        FALLBACK_ORDER={"promo": ["sms", "email"]},
        CHANNEL_PROVIDERS={"sms": "tests.messaging.test_policy.RetryProvider", "email": "email"},
        MAX_ATTEMPTS=2,
    )
    templates()
    message = enqueue(member_with_consent("sms", "email"), "k", channel=None)
    services.messages_send_due(now=NOON)
    message.refresh_from_db()
    assert message.state == MessageState.QUEUED and not Message.objects.filter(dedupe_key="k>email").exists()
    services.messages_send_due(now=message.next_attempt_at)
    message.refresh_from_db()
    assert message.state == MessageState.FAILED and Message.objects.filter(dedupe_key="k>email").exists()


def test_fallback_skips_channels_whose_consent_was_withdrawn_meanwhile(settings):
    configure(
        settings,
        FALLBACK_ORDER={"promo": ["sms", "email", "push"]},
        CHANNEL_PROVIDERS={"sms": "tests.messaging.test_policy.GiveUpProvider", "email": "email", "push": "log"},
    )
    templates()
    member = member_with_consent("sms", "email", "push")
    enqueue(member, "k", channel=None)
    member.consents.filter(channel="email").update(granted=False)
    services.messages_send_due(now=NOON)
    assert not Message.objects.filter(dedupe_key="k>email").exists()
    assert Message.objects.get(dedupe_key="k>push").state == MessageState.QUEUED


def test_nothing_is_queued_when_no_channel_of_the_order_can_reach_the_member(settings):
    configure(settings, FALLBACK_ORDER={"promo": ["sms", "email"]})
    templates()
    assert enqueue(member_with_consent("push"), "k", channel=None) is None
    assert Message.objects.count() == 0


def test_channels_added_later_slot_in_with_their_own_checks(settings, monkeypatch):
    monkeypatch.setattr(policy, "_channel_checks", {**policy._channel_checks})
    configure(settings, FALLBACK_ORDER={"promo": ["mini_program", "sms"]}, CHANNEL_PROVIDERS={"mini_program": "log", "sms": "log"})
    templates(channels=("sms",))
    MessageTemplate.objects.create(code="promo", channel="mini_program", body_en="mini {{ name }}")
    quota = {"left": 1}
    policy.register_channel_check("mini_program", lambda member, code: None if quota["left"] else "no_subscription_quota")
    member = MemberFactory()
    assert enqueue(member, "a", channel=None, purpose="service").channel == "mini_program"
    quota["left"] = 0
    assert enqueue(member, "b", channel=None, purpose="service").channel == "sms"


# Many members, each with their own variables ---------------------------------------------------------------


def each(members, key="r", purpose="marketing"):
    items = [services.Outgoing(member_id=m.pk, context={"points": i}, dedupe_key=f"{key}:{m.pk}") for i, m in enumerate(members)]
    return services.messages_enqueue_each(items=items, template_code="promo", purpose=purpose)


def test_enqueue_each_routes_every_member_through_the_order_with_consent_and_caps(settings):
    configure(settings, FALLBACK_ORDER={"promo": ["sms", "email"]}, CAP_PER_DAY=1)
    templates()
    by_sms, by_email, capped, silent = (
        member_with_consent("sms", "email"),
        member_with_consent("email", phone=None),
        member_with_consent("sms"),
        MemberFactory(),
    )
    enqueue(capped, "earlier", channel=None)
    assert each([by_sms, by_email, capped, silent]) == 2
    assert Message.objects.get(member=by_sms, dedupe_key__startswith="r:").channel == "sms"
    assert Message.objects.get(member=by_sms, dedupe_key__startswith="r:").fallback_channels == ["email"]
    assert Message.objects.get(member=by_email).channel == "email"
    assert not Message.objects.filter(member=silent).exists()
    assert each([by_sms, by_email]) == 0  # the same keys again: nothing twice


def test_enqueue_each_costs_the_same_queries_for_3_or_30_members(settings, django_assert_max_num_queries):
    configure(settings, FALLBACK_ORDER={"promo": ["sms", "email"]})
    templates()
    few = [member_with_consent("sms") for _ in range(3)]
    many = [member_with_consent("sms", "email") for _ in range(30)]
    with django_assert_max_num_queries(12):
        assert each(few, key="few") == 3
    with django_assert_max_num_queries(12):
        assert each(many, key="many") == 30


def test_a_sender_queueing_once_per_channel_gets_one_message_when_the_kind_has_an_order(settings):
    configure(settings, FALLBACK_ORDER={"promo": ["email", "sms"]})
    templates()
    member = member_with_consent("sms", "email", "push")
    # as the events app does: one call per notify channel, the channel in the key
    first = enqueue(member, "promo:42:sms", channel="sms")
    assert first.channel == "email" and first.dedupe_key == "promo:42"
    assert enqueue(member, "promo:42:email", channel="email") is None
    # a channel outside the order is the sender's own choice and is sent as well
    assert enqueue(member, "promo:42:push", channel="push").channel == "push"
    queued = [
        services.messages_enqueue_bulk(
            member_ids=[member.pk],
            channel=channel,
            template_code="promo",
            context={},
            purpose="marketing",
            dedupe_prefix=f"promo:7:{channel}",
        )
        for channel in ("sms", "email")
    ]
    assert queued == [1, 0] and Message.objects.get(dedupe_key=f"promo:7:{member.pk}").channel == "email"
