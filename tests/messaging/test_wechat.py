"""The WeChat and WeCom senders against a local fake of their HTTP APIs: request formats, the shared access token
(one fetch for every process, refreshed on expiry and on invalid-token answers, one retry), error codes mapped to
retry / give up / invalid recipient, the mini-program's subscription count, and unconfigured channels."""

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.identities.models import IdentityKind, SubscriptionQuota
from apps.members.models import ConsentChannel, Member
from apps.messaging import services
from apps.messaging.models import Message, MessagePurpose, MessageState
from apps.messaging.tracking import message_id_from_token
from apps.messaging.wechat import (
    GIVE_UP,
    INVALID_RECIPIENT,
    RETRY,
    MiniProgramBackend,
    OfficialAccountBackend,
    WeChatSendError,
    wechat_access_token,
)
from apps.messaging.wecom import WeComBackend
from tests.identities.factories import ChannelIdentityFactory, SubscriptionQuotaFactory
from tests.members.factories import ConsentFactory, MemberFactory
from tests.messaging.factories import MessageTemplateFactory
from tests.messaging.fake_wechat import FakeWeChat, serve


def redis_cache() -> dict:
    """The shared cache the workers use in production; a key prefix of its own per test, as tests run in parallel."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/9",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def fake(settings) -> Iterator[FakeWeChat]:
    wechat = FakeWeChat()
    server = serve(wechat)
    settings.CACHES = redis_cache()
    settings.USEROPS_WECHAT = {
        "API_BASE": wechat.url,
        "OFFICIAL_ACCOUNT_APP_ID": "wx-oa-test",
        "OFFICIAL_ACCOUNT_APP_SECRET": "oa-secret",
        "MINI_PROGRAM_APP_ID": "wx-mp-test",
        "MINI_PROGRAM_APP_SECRET": "mp-secret",
        "MINI_PROGRAM_STATE": "trial",
        "WECOM_API_BASE": wechat.url,
        "WECOM_CORP_ID": "ww-corp-test",
        "WECOM_SECRET": "wecom-secret",
        "TIMEOUT_SECONDS": 5.0,
    }
    yield wechat
    server.shutdown()
    server.server_close()


def oa_template(**kwargs: object) -> None:
    MessageTemplateFactory(
        code="points_earned",
        channel=ConsentChannel.OFFICIAL_ACCOUNT,
        subject_en="Points earned",
        body_en="{{ name }}, you earned {{ points }} points.",
        provider_template_id="oa-tmpl-1",
        provider_params={"first": "subject", "keyword1": "body", "keyword2": "{{ points_balance }} left", "_url": "https://example.com/me"},
        **kwargs,
    )


@pytest.mark.django_db
def test_an_official_account_message_with_a_link_opens_it_through_its_tracked_link(fake):
    oa_template(link_url="https://shop.example.com/spring")
    message = queue(
        member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001"), ConsentChannel.OFFICIAL_ACCOUNT, "points_earned"
    )
    assert send_due().sent == 1
    # The token carries the time it was made: compare the message it was signed for.
    token = fake.sends()[0].body["url"].removeprefix("http://localhost:8000/t/").rstrip("/")
    assert message_id_from_token(token) == message.pk


def mp_template() -> None:
    MessageTemplateFactory(
        code="event_reminder",
        channel=ConsentChannel.MINI_PROGRAM,
        subject_en="",
        body_en="Your owners' club drive starts tomorrow at nine, see you at the gate",
        provider_template_id="tmpl-points",
        provider_params={"thing1": "body", "name2": "{{ name }}", "_page": "pages/events/index"},
    )


def queue(member: Member, channel: str, code: str, key: str = "k1", purpose: str = MessagePurpose.SERVICE) -> Message:
    message = services.message_enqueue(
        member=member, channel=channel, template_code=code, context={"points": 50}, purpose=purpose, dedupe_key=key, language="en"
    )
    assert message is not None
    return message


def member_with(kind: str, app_id: str, external_id: str, **kwargs: object) -> Member:
    member = MemberFactory(name="Li Na")
    ChannelIdentityFactory(member=member, kind=kind, app_id=app_id, external_id=external_id, **kwargs)
    return member


def send_due() -> services.SendSummary:
    return services.messages_send_due(now=timezone.now() + timedelta(seconds=1))


# Official account -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_official_account_template_message_goes_out_in_wechats_format_with_a_token_fetched_once(fake):
    oa_template()
    member = member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001")
    first, second = (
        queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned", "a"),
        queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned", "b"),
    )

    assert send_due().sent == 2

    [token] = fake.token_requests()
    assert token.method == "GET" and token.query == {"grant_type": "client_credential", "appid": "wx-oa-test", "secret": "oa-secret"}
    sends = fake.sends()
    assert [s.path for s in sends] == ["/cgi-bin/message/template/send"] * 2
    assert sends[0].query["access_token"] == sends[1].query["access_token"]
    assert sends[0].body == {
        "touser": "oLiNaOpenId0001",
        "template_id": "oa-tmpl-1",
        "data": {
            "first": {"value": "Points earned"},
            "keyword1": {"value": "Li Na, you earned 50 points."},
            "keyword2": {"value": "0 left"},
        },
        "client_msg_id": f"userops-{first.pk}",
        "url": "https://example.com/me",
    }
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.provider_ref) == (MessageState.SENT, "wechat-oa-1000")
    assert second.provider_ref == "wechat-oa-1001"


@pytest.mark.django_db
def test_a_token_wechat_calls_invalid_or_expired_is_refreshed_and_the_call_made_once_more(fake):
    oa_template()
    member = member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001")
    queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned", "a")
    assert send_due().sent == 1
    fake.expire_all_tokens()  # WeChat answers 42001 to the token we cached

    message = queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned", "b")
    assert send_due().sent == 1

    assert len(fake.token_requests()) == 2
    assert len(fake.sends()) == 3
    message.refresh_from_db()
    assert message.state == MessageState.SENT


@pytest.mark.django_db
def test_a_token_refused_again_after_the_refresh_is_retried_later_not_looped(fake):
    oa_template()
    member = member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001")
    message = queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned")
    fake.replies = [{"errcode": 40001, "errmsg": "invalid credential"}, {"errcode": 40014, "errmsg": "invalid access_token"}]

    assert send_due().retrying == 1

    assert len(fake.sends()) == 2 and len(fake.token_requests()) == 2
    message.refresh_from_db()
    assert message.state == MessageState.QUEUED and message.attempts == 1
    assert message.last_error.startswith("official account template message refused: 40014")
    assert message.next_attempt_at > timezone.now()


@pytest.mark.django_db
def test_a_cached_token_is_used_until_wechats_expiry_less_the_margin(fake):
    fake.expires_in = 2  # kept for one second
    token = wechat_access_token(app_id="wx-oa-test", secret="oa-secret")
    first = token.get()
    assert token.get() == first
    time.sleep(1.3)
    assert token.get() != first
    assert len(fake.token_requests()) == 2


def test_processes_asking_for_a_token_at_once_fetch_it_once(fake):
    fake.token_delay = 0.3
    barrier = threading.Barrier(8)
    got: list[str] = []

    def worker() -> None:
        barrier.wait()
        got.append(wechat_access_token(app_id="wx-oa-test", secret="oa-secret").get())

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(got) == 8 and len(set(got)) == 1
    assert len(fake.token_requests()) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ({"errcode": 45009, "errmsg": "reach max api daily quota limit"}, RETRY),
        ({"errcode": -1, "errmsg": "system error"}, RETRY),
        ({"errcode": 40003, "errmsg": "invalid openid"}, INVALID_RECIPIENT),
        ({"errcode": 43004, "errmsg": "require subscribe"}, INVALID_RECIPIENT),
        ({"errcode": 40037, "errmsg": "invalid template_id"}, GIVE_UP),
        ({"errcode": 47003, "errmsg": "argument invalid! data.thing1.value invalid"}, GIVE_UP),
    ],
)
def test_wechat_error_codes_are_mapped_to_retry_give_up_or_invalid_recipient(fake, reply, outcome):
    oa_template()
    member = member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001")
    message = queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned")
    fake.replies = [reply]

    with pytest.raises(WeChatSendError) as error:
        OfficialAccountBackend().send(Message.objects.select_related("member").get(pk=message.pk))
    assert error.value.outcome == outcome
    assert error.value.code == reply["errcode"]
    assert error.value.permanent is (outcome != RETRY)

    fake.replies = [reply]
    summary = send_due()
    message.refresh_from_db()
    if outcome == RETRY:
        assert summary.retrying == 1 and message.state == MessageState.QUEUED
    else:
        assert summary.failed == 1 and message.state == MessageState.FAILED
    assert str(reply["errcode"]) in message.last_error


@pytest.mark.django_db
def test_a_wrong_secret_fails_the_message_with_the_reason(fake, settings):
    settings.USEROPS_WECHAT = {**settings.USEROPS_WECHAT, "OFFICIAL_ACCOUNT_APP_SECRET": "not-it"}
    oa_template()
    message = queue(
        member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001"), ConsentChannel.OFFICIAL_ACCOUNT, "points_earned"
    )

    assert send_due().failed == 1

    message.refresh_from_db()
    assert message.state == MessageState.FAILED
    assert message.last_error == "WeChat token refused: 40125 invalid appsecret"
    assert fake.sends() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("channel", "keys"),
    [
        (ConsentChannel.OFFICIAL_ACCOUNT, ("OFFICIAL_ACCOUNT_APP_ID", "USEROPS_WECHAT_OA_APP_ID")),
        (ConsentChannel.MINI_PROGRAM, ("MINI_PROGRAM_APP_SECRET", "USEROPS_WECHAT_MP_APP_SECRET")),
        (ConsentChannel.WECOM, ("WECOM_CORP_ID", "USEROPS_WECOM_CORP_ID")),
    ],
)
def test_an_unconfigured_channel_fails_its_messages_saying_so(fake, settings, channel, keys):
    setting, env_name = keys
    settings.USEROPS_WECHAT = {**settings.USEROPS_WECHAT, setting: ""}
    MessageTemplateFactory(
        code="hello",
        channel=channel,
        subject_en="",
        body_en="Hello {{ name }}",
        provider_template_id="t",
        provider_params={"thing1": "body"},
    )
    message = queue(MemberFactory(), channel, "hello")

    assert send_due().failed == 1

    message.refresh_from_db()
    assert message.state == MessageState.FAILED
    assert message.last_error.startswith("provider_not_configured") and env_name in message.last_error
    assert fake.requests == []


@pytest.mark.django_db
def test_a_member_without_an_openid_in_the_app_is_an_invalid_recipient_and_nothing_is_called(fake):
    oa_template()
    member = member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-other-app", "oElsewhere0001")
    message = queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned")

    with pytest.raises(WeChatSendError) as error:
        OfficialAccountBackend().send(Message.objects.select_related("member").get(pk=message.pk))
    assert error.value.outcome == INVALID_RECIPIENT
    assert fake.requests == []


@pytest.mark.django_db
def test_a_template_without_a_wechat_template_id_gives_up(fake):
    MessageTemplateFactory(code="plain", channel=ConsentChannel.OFFICIAL_ACCOUNT, subject_en="", body_en="Hello")
    message = queue(member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001"), ConsentChannel.OFFICIAL_ACCOUNT, "plain")
    with pytest.raises(WeChatSendError, match="has no WeChat template ID") as error:
        OfficialAccountBackend().send(Message.objects.select_related("member").get(pk=message.pk))
    assert error.value.outcome == GIVE_UP


@pytest.mark.django_db
def test_marketing_on_a_wechat_channel_needs_the_members_consent_for_it(fake, settings):
    # Marketing waits out the quiet hours; this test is about consent, whatever the hour it runs at.
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "QUIET_HOURS": [], "QUIET_HOURS_BY_CHANNEL": {}}
    oa_template()
    member = member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001")
    ConsentFactory(member=member, channel=ConsentChannel.SMS)
    assert (
        services.message_enqueue(
            member=member,
            channel=ConsentChannel.OFFICIAL_ACCOUNT,
            template_code="points_earned",
            context={},
            purpose=MessagePurpose.MARKETING,
            dedupe_key="m1",
        )
        is None
    )
    ConsentFactory(member=member, channel=ConsentChannel.OFFICIAL_ACCOUNT)
    queue(member, ConsentChannel.OFFICIAL_ACCOUNT, "points_earned", "m2", purpose=MessagePurpose.MARKETING)
    assert send_due().sent == 1


# Mini-program ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_subscribe_message_takes_one_subscription_and_goes_out_in_wechats_format(fake):
    mp_template()
    member = member_with(IdentityKind.MINI_PROGRAM, "wx-mp-test", "oMiniOpenId0001")
    SubscriptionQuotaFactory(member=member, template_id="tmpl-points", remaining=2)
    message = queue(member, ConsentChannel.MINI_PROGRAM, "event_reminder")

    assert send_due().sent == 1

    [token] = fake.token_requests()
    assert token.query["appid"] == "wx-mp-test"
    [sent] = fake.sends()
    assert sent.path == "/cgi-bin/message/subscribe/send"
    assert sent.body == {
        "touser": "oMiniOpenId0001",
        "template_id": "tmpl-points",
        "data": {"thing1": {"value": "Your owners' club dr"}, "name2": {"value": "Li Na"}},
        "miniprogram_state": "trial",
        "lang": "en_US",
        "page": "pages/events/index",
    }
    assert SubscriptionQuota.objects.get(member=member).remaining == 1
    message.refresh_from_db()
    assert message.provider_ref == "wechat-mp-1000"


@pytest.mark.django_db
def test_without_a_subscription_left_nothing_is_sent(fake):
    mp_template()
    member = member_with(IdentityKind.MINI_PROGRAM, "wx-mp-test", "oMiniOpenId0001")
    SubscriptionQuotaFactory(member=member, template_id="tmpl-points", remaining=0)
    message = queue(member, ConsentChannel.MINI_PROGRAM, "event_reminder")

    assert send_due().failed == 1

    message.refresh_from_db()
    assert message.last_error == "member has no subscription left for template tmpl-points"
    assert fake.sends() == []


@pytest.mark.django_db
def test_a_member_who_refused_the_subscription_loses_all_of_it_and_the_message_gives_up(fake):
    mp_template()
    member = member_with(IdentityKind.MINI_PROGRAM, "wx-mp-test", "oMiniOpenId0001")
    SubscriptionQuotaFactory(member=member, template_id="tmpl-points", remaining=3)
    message = queue(member, ConsentChannel.MINI_PROGRAM, "event_reminder")
    fake.replies = [{"errcode": 43101, "errmsg": "user refuse to accept the msg"}]

    assert send_due().failed == 1

    assert SubscriptionQuota.objects.get(member=member).remaining == 0
    message.refresh_from_db()
    assert message.state == MessageState.FAILED and "43101" in message.last_error


@pytest.mark.django_db
def test_a_rate_limited_subscribe_message_gives_its_subscription_back_and_is_retried(fake):
    mp_template()
    member = member_with(IdentityKind.MINI_PROGRAM, "wx-mp-test", "oMiniOpenId0001")
    SubscriptionQuotaFactory(member=member, template_id="tmpl-points", remaining=1)
    message = queue(member, ConsentChannel.MINI_PROGRAM, "event_reminder")
    fake.replies = [{"errcode": 45009, "errmsg": "reach max api daily quota limit"}]

    assert send_due().retrying == 1
    assert SubscriptionQuota.objects.get(member=member).remaining == 1

    services.messages_send_due(now=timezone.now() + timedelta(hours=1))
    message.refresh_from_db()
    assert message.state == MessageState.SENT
    assert SubscriptionQuota.objects.get(member=member).remaining == 0


@pytest.mark.django_db(transaction=True)
def test_two_sends_racing_for_the_last_subscription_send_one(fake):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL")
    mp_template()
    member = member_with(IdentityKind.MINI_PROGRAM, "wx-mp-test", "oMiniOpenId0001")
    SubscriptionQuotaFactory(member=member, template_id="tmpl-points", remaining=1)
    messages = [queue(member, ConsentChannel.MINI_PROGRAM, "event_reminder", f"race-{i}") for i in range(2)]
    wechat_access_token(app_id="wx-mp-test", secret="mp-secret").get()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker(pk: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                MiniProgramBackend().send(Message.objects.select_related("member").get(pk=pk))
                time.sleep(0.2)  # the winner holds its subscription row until it commits
            outcomes.append("sent")
        except WeChatSendError as exc:
            outcomes.append(exc.outcome)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(m.pk,)) for m in messages]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert sorted(outcomes) == [GIVE_UP, "sent"]
    assert len(fake.sends()) == 1
    assert SubscriptionQuota.objects.get(member=member).remaining == 0


# WeCom -----------------------------------------------------------------------------------------------


def wecom_member(**kwargs: object) -> Member:
    return member_with(IdentityKind.WECOM, "ww-corp-test", "wmExternal0001", adviser_userid="zhangwei", dealer_code="SH-001", **kwargs)


@pytest.mark.django_db
def test_a_wecom_message_is_created_for_the_adviser_who_owns_the_relationship(fake):
    MessageTemplateFactory(
        code="service_due", channel=ConsentChannel.WECOM, subject_en="Service", body_en="{{ name }}, your car is due for service."
    )
    message = queue(wecom_member(), ConsentChannel.WECOM, "service_due")

    assert send_due().sent == 1

    [token] = fake.token_requests()
    assert token.path == "/cgi-bin/gettoken" and token.query == {"corpid": "ww-corp-test", "corpsecret": "wecom-secret"}
    [sent] = fake.sends()
    assert sent.path == "/cgi-bin/externalcontact/add_msg_template"
    assert sent.body == {
        "chat_type": "single",
        "external_userid": ["wmExternal0001"],
        "sender": "zhangwei",
        "text": {"content": "Service\nLi Na, your car is due for service."},
    }
    message.refresh_from_db()
    assert message.provider_ref == "wecom-1000"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ({"errcode": 0, "errmsg": "ok", "fail_list": ["wmExternal0001"], "msgid": "x"}, INVALID_RECIPIENT),
        ({"errcode": 84061, "errmsg": "not external contact"}, INVALID_RECIPIENT),
        ({"errcode": 45033, "errmsg": "api concurrent out of limit"}, RETRY),
        ({"errcode": 40003, "errmsg": "invalid userid"}, GIVE_UP),
    ],
)
def test_wecom_answers_are_mapped(fake, reply, outcome):
    MessageTemplateFactory(code="service_due", channel=ConsentChannel.WECOM, subject_en="", body_en="Hello")
    message = queue(wecom_member(), ConsentChannel.WECOM, "service_due")
    fake.replies = [reply]
    with pytest.raises(WeChatSendError) as error:
        WeComBackend().send(Message.objects.select_related("member").get(pk=message.pk))
    assert error.value.outcome == outcome


@pytest.mark.django_db
def test_a_wecom_token_expired_on_the_server_is_refreshed_once(fake):
    MessageTemplateFactory(code="service_due", channel=ConsentChannel.WECOM, subject_en="", body_en="Hello")
    member = wecom_member()
    queue(member, ConsentChannel.WECOM, "service_due", "a")
    send_due()
    fake.expire_all_tokens()
    message = queue(member, ConsentChannel.WECOM, "service_due", "b")
    assert send_due().sent == 1
    assert len(fake.token_requests()) == 2
    message.refresh_from_db()
    assert message.state == MessageState.SENT


@pytest.mark.django_db
def test_a_member_who_is_no_wecom_contact_of_the_corp_is_an_invalid_recipient(fake):
    MessageTemplateFactory(code="service_due", channel=ConsentChannel.WECOM, subject_en="", body_en="Hello")
    message = queue(MemberFactory(), ConsentChannel.WECOM, "service_due")
    with pytest.raises(WeChatSendError) as error:
        WeComBackend().send(Message.objects.select_related("member").get(pk=message.pk))
    assert error.value.outcome == INVALID_RECIPIENT
    assert fake.requests == []


@pytest.mark.django_db
def test_wechat_out_of_reach_is_retried_later(fake, settings):
    oa_template()
    message = queue(
        member_with(IdentityKind.OFFICIAL_ACCOUNT, "wx-oa-test", "oLiNaOpenId0001"), ConsentChannel.OFFICIAL_ACCOUNT, "points_earned"
    )
    settings.USEROPS_WECHAT = {**settings.USEROPS_WECHAT, "API_BASE": "http://127.0.0.1:9"}  # nothing listens there

    with pytest.raises(WeChatSendError) as error:
        OfficialAccountBackend().send(Message.objects.select_related("member").get(pk=message.pk))
    assert error.value.outcome == RETRY and "cannot reach" in str(error.value)
