"""Opens and clicks: the signed tracked link, the email's open pixel, and where staff read them."""

import re
import threading
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.campaigns import services as campaigns
from apps.core.errors import ApplicationError
from apps.core.roles import CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from apps.members.models import ConsentChannel
from apps.members.selectors import member_timeline
from apps.members.timeline import TIMELINE_SOURCES
from apps.messaging import services
from apps.messaging.models import Message, MessagePurpose, MessageTemplate
from apps.messaging.tracking import SALT, message_id_from_token, open_pixel_url, tracked_url, tracking_token
from tests.campaigns.factories import CampaignFactory
from tests.members.factories import ConsentFactory, MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

TARGET = "https://shop.example.com/spring?utm=sms"


@pytest.fixture(autouse=True)
def log_providers(settings):
    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "CHANNEL_PROVIDERS": {"sms": "log", "push": "log", "email": "email"}}


def linked_template(**kwargs):
    defaults = {"code": "spring", "body_en": "Spring offers: {{ tracked_url }}", "body_zh_hans": "春季优惠：{{ tracked_url }}"}
    return MessageTemplateFactory(link_url=TARGET, **{**defaults, **kwargs})


def queue(member, key="spring:1", **kwargs):
    return services.message_enqueue(member=member, template_code="spring", context={}, dedupe_key=key, channel=ConsentChannel.SMS, **kwargs)


def linked_ids(text: str) -> list[int | None]:
    """The message id each tracked link or pixel in ``text`` was signed for (tokens carry their time, so compare ids)."""
    return [message_id_from_token(token) for token in re.findall(r"/t/([^/\s\"]+)/", text)]


def path_of(url: str) -> str:
    return url.removeprefix("http://localhost:8000")


def test_a_template_link_gives_each_message_its_own_signed_tracked_link():
    linked_template()
    first, second = queue(MemberFactory()), queue(MemberFactory(), key="spring:2")
    assert first.link_url == TARGET
    assert linked_ids(first.body) == [first.pk] and linked_ids(second.body) == [second.pk]
    assert TARGET not in first.body


def test_a_click_redirects_to_the_stored_target_and_records_open_and_clicks(client):
    linked_template()
    message = queue(MemberFactory())
    url = path_of(tracked_url(message.pk))
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == TARGET
    assert response["Cache-Control"] == "no-store, private"
    message.refresh_from_db()
    first_open = message.opened_at
    assert first_open is not None and message.click_count == 1
    client.get(url)
    message.refresh_from_db()
    assert message.click_count == 2 and message.opened_at == first_open


def test_the_target_comes_from_the_message_never_from_the_request(client):
    linked_template()
    message = queue(MemberFactory())
    url = path_of(tracked_url(message.pk))
    for query in ("?next=https://evil.example", "?url=https://evil.example&to=//evil.example"):
        assert client.get(url + query)["Location"] == TARGET
    # A staff change of the template's link later does not move messages already sent.
    MessageTemplate.objects.filter(code="spring").update(link_url="https://other.example.com/")
    assert client.get(url)["Location"] == TARGET


def test_tampered_foreign_expired_and_linkless_tokens_get_the_same_404_and_change_nothing(client, settings):
    linked_template()
    mine, theirs = queue(MemberFactory()), queue(MemberFactory(), key="spring:2")
    token = tracking_token(mine.pk)
    _value, stamp, signature = token.split(":")
    # Another member's message id under my message's signature, a signature from another salt, plain ids.
    forged = [
        f"{theirs.pk}:{stamp}:{signature}",
        signing.TimestampSigner(salt="other", algorithm="sha256").sign(str(theirs.pk)),
        signing.TimestampSigner(salt=SALT, algorithm="sha256", key="not-the-secret").sign(str(theirs.pk)),
        str(theirs.pk),
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    ]
    answers = [client.get(f"/t/{bad}/") for bad in forged]
    assert {(answer.status_code, answer.content) for answer in answers} == {(404, b"This link is not valid.")}
    theirs.refresh_from_db()
    assert theirs.opened_at is None and theirs.click_count == 0
    # My own link opens only mine.
    client.get(f"/t/{token}/")
    theirs.refresh_from_db()
    assert theirs.click_count == 0 and Message.objects.get(pk=mine.pk).click_count == 1

    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "TRACKING_DAYS": 0}
    expired = client.get(f"/t/{tracking_token(theirs.pk)}/")
    assert (expired.status_code, expired.content) == (404, b"This link is not valid.")

    settings.USEROPS_MESSAGING = {**settings.USEROPS_MESSAGING, "TRACKING_DAYS": 180}
    MessageTemplateFactory()
    plain = services.message_enqueue(
        member=MemberFactory(), template_code="welcome", context={"benefit_code": "X"}, dedupe_key="w1", channel=ConsentChannel.SMS
    )
    linkless = client.get(f"/t/{tracking_token(plain.pk)}/")
    assert (linkless.status_code, linkless.content) == (404, b"This link is not valid.")
    plain.refresh_from_db()
    assert plain.opened_at is None and plain.click_count == 0


def test_the_open_pixel_records_the_first_open_once_and_answers_the_same_for_any_token(client, django_assert_num_queries):
    linked_template()
    message = queue(MemberFactory())
    url = path_of(open_pixel_url(message.pk))
    with django_assert_num_queries(1):
        first = client.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/gif" and first.content.startswith(b"GIF89a")
    assert first["Cache-Control"] == "no-store, private"
    message.refresh_from_db()
    opened = message.opened_at
    assert opened is not None and message.click_count == 0
    client.get(url)
    message.refresh_from_db()
    assert message.opened_at == opened
    bad = client.get(f"/t/{message.pk}:nope:nope/o.gif")
    assert (bad.status_code, bad.content, bad["Content-Type"]) == (200, first.content, "image/gif")
    assert not client.cookies


def test_a_click_is_one_statement_without_session_or_user(client, django_assert_num_queries):
    linked_template()
    message = queue(MemberFactory())
    with django_assert_num_queries(1):
        client.get(path_of(tracked_url(message.pk)))
    assert "sessionid" not in client.cookies


@pytest.mark.django_db(transaction=True)
def test_opens_racing_each_other_keep_the_first_time_and_clicks_all_count():
    linked_template()
    message = queue(MemberFactory())
    token = tracking_token(message.pk)
    start = timezone.now()
    recorded, barrier = [], threading.Barrier(4)

    def click(offset: int) -> None:
        barrier.wait()
        try:
            recorded.append(services.message_record_open(token=token, now=start + timedelta(seconds=offset)))
            services.message_record_click(token=token, now=start + timedelta(seconds=offset))
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    message.refresh_from_db()
    assert recorded.count(True) == 1 and message.click_count == 4
    assert start <= message.opened_at <= start + timedelta(seconds=3)


def test_email_carries_the_open_pixel_in_its_html_part():
    linked_template(channel=ConsentChannel.EMAIL, subject_en="Spring")
    member = MemberFactory(email="li@example.com")
    message = services.message_enqueue(member=member, template_code="spring", context={}, dedupe_key="e1", channel=ConsentChannel.EMAIL)
    services.messages_send_due(now=timezone.now() + timedelta(days=1))
    sent = mail.outbox[-1]
    html, mime = sent.alternatives[0]
    assert mime == "text/html" and 'o.gif"' in html and linked_ids(html) == [message.pk, message.pk]
    assert linked_ids(sent.body) == [message.pk]


def test_a_template_using_the_tracked_link_needs_a_link():
    template = MessageTemplate(
        code="nolink", channel=ConsentChannel.SMS, body_en="Go {{ tracked_url }}", body_zh_hans="去 {{ tracked_url }}"
    )
    with pytest.raises(ApplicationError) as refused:
        services.message_template_save(template=template)
    assert refused.value.fields == {"link_url": ""} and not MessageTemplate.objects.filter(code="nolink").exists()
    template.link_url = "javascript:alert(1)"
    with pytest.raises(ApplicationError, match="http"):
        services.message_template_save(template=template)
    template.link_url = TARGET
    assert services.message_template_save(template=template).pk


def test_sms_parameters_and_bulk_sends_get_tracked_links():
    linked_template(provider_template_id="SMS_1", provider_params={"link": "tracked_url"})
    members = MemberFactory.create_batch(3)
    for member in members:
        ConsentFactory(member=member, channel=ConsentChannel.SMS)
    assert (
        services.messages_enqueue_bulk(
            member_ids=[m.pk for m in members],
            channel=ConsentChannel.SMS,
            template_code="spring",
            context={},
            purpose="marketing",
            dedupe_prefix="b",
        )
        == 3
    )
    for message in Message.objects.filter(dedupe_key__startswith="b:"):
        assert linked_ids(message.provider_params["link"]) == [message.pk] and message.link_url == TARGET


def test_timeline_admin_and_campaign_run_show_opens(client, staff):
    linked_template()
    member = MemberFactory()
    ConsentFactory(member=member, channel=ConsentChannel.SMS)
    campaign = CampaignFactory(message_template_code="spring", message_channel=ConsentChannel.SMS, message_purpose=MessagePurpose.MARKETING)
    run = campaigns.campaign_launch(campaign=campaign)
    campaigns.campaign_run_execute(run_id=run.pk)
    message = Message.objects.get(member=member)
    services.message_record_click(token=tracking_token(message.pk))

    messages_source = [source for source in TIMELINE_SOURCES if source.name == "messages"]
    item = member_timeline(member=member, sources=messages_source, limit=5).items[0]
    assert "opened" in item.detail and "1 click" in item.detail
    assert item.data["clicks"] == 1 and item.data["opened_at"]

    client.force_login(staff(CUSTOMER_SERVICE))
    listing = client.get(reverse("admin:messaging_message_changelist") + "?opened=yes").content.decode()
    assert f">{message.pk}<" in listing
    assert f">{message.pk}<" not in client.get(reverse("admin:messaging_message_changelist") + "?opened=no").content.decode()

    client.force_login(staff(CAMPAIGN_MANAGER))
    page = client.get(reverse("admin:campaigns_campaignrun_change", args=[run.pk])).content.decode()
    assert "1 (100.0 %)" in page
