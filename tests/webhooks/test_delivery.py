"""Posting to a real local receiver: signature, retries with back-off, dead letters, ordering, replay, SSRF."""

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.outbox import EventType, outbox_emit
from apps.members.services.ledger import points_earn, points_spend
from apps.webhooks.destinations import destination_check
from apps.webhooks.models import DeliveryStatus, EndpointStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import (
    deliveries_replay,
    deliveries_send_due,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_send_test,
    outbox_fan_out,
    webhooks_dispatch,
)
from apps.webhooks.signing import sign, verify
from tests.members.factories import MemberFactory
from tests.webhooks.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db


def test_a_delivery_is_a_signed_json_post_the_receiver_can_verify(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED])
    member = MemberFactory()
    entry = points_earn(member=member, amount=88, reason="purchase")
    totals = webhooks_dispatch(seconds=30)
    assert totals == {"events": 1, "delivered": 1, "retrying": 0, "dead": 0}
    [request] = receiver.requests
    headers = request.headers
    assert request.path == "/hooks/userops"
    assert headers["Content-Type"] == "application/json"
    assert verify(
        secret=endpoint.secret, body=request.body, timestamp=headers["X-UserOps-Timestamp"], signature=headers["X-UserOps-Signature"]
    )
    assert not verify(
        secret="whsec_wrong", body=request.body, timestamp=headers["X-UserOps-Timestamp"], signature=headers["X-UserOps-Signature"]
    )
    assert not verify(
        secret=endpoint.secret, body=request.body + b" ", timestamp=headers["X-UserOps-Timestamp"], signature=headers["X-UserOps-Signature"]
    )
    document = request.json
    assert set(document) == {"id", "type", "occurred_at", "data"}
    assert document["id"] == headers["X-UserOps-Event-Id"]
    assert document["type"] == "points.earned"
    assert document["data"]["entry_id"] == entry.pk and document["data"]["amount"] == 88
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.response_body) == (DeliveryStatus.DELIVERED, 1, 200, "ok")
    assert WebhookAttempt.objects.get().response_code == 200


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_and_old_timestamps_are_refused():
    import hashlib
    import hmac

    body = b'{"id":"x"}'
    expected = "v1=" + hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(secret="whsec_k", timestamp=1700000000, body=body) == expected
    assert verify(secret="whsec_k", body=body, timestamp="1700000000", signature=expected, now=1700000100)
    assert not verify(secret="whsec_k", body=body, timestamp="1700000000", signature=expected, now=1700000000 + 301)
    assert not verify(secret="whsec_k", body=body, timestamp="not-a-time", signature=expected, now=1700000000)
    # During a rotation the header may carry several signatures; one valid is enough.
    assert verify(secret="whsec_k", body=body, timestamp="1700000000", signature=f"v1=00, {expected}", now=1700000000)


def test_failures_are_retried_with_exponential_back_off_and_jitter(receiver):
    receiver.answers = [500, 503]
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED])
    points_earn(member=MemberFactory(), amount=1, reason="x")
    outbox_fan_out()
    now = timezone.now()
    assert deliveries_send_due(now=now).retrying == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.response_code == 500
    assert timedelta(seconds=22.5) <= delivery.next_attempt_at - now <= timedelta(seconds=37.5)  # 30 s ± 25 %
    assert deliveries_send_due(now=now + timedelta(seconds=10)).claimed == 0  # not due yet
    second = delivery.next_attempt_at
    assert deliveries_send_due(now=second).retrying == 1
    delivery.refresh_from_db()
    assert timedelta(seconds=45) <= delivery.next_attempt_at - second <= timedelta(seconds=75)  # 60 s ± 25 %
    assert deliveries_send_due(now=delivery.next_attempt_at).delivered == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "response_code")) == [(1, 500), (2, 503), (3, 200)]
    # Every attempt carries the same event id, and the receiver saw three.
    assert len(set(receiver.event_ids())) == 1 and len(receiver.requests) == 3
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.HEALTHY


def test_after_the_retry_period_a_delivery_is_dead_and_the_endpoint_failing_and_staff_are_told(receiver, caplog):
    receiver.default_status = 500
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED], contact_email="ops@brand.example")
    points_earn(member=MemberFactory(), amount=1, reason="x")
    outbox_fan_out()
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59, seconds=50))
    with caplog.at_level(logging.WARNING, logger="userops.webhooks"), pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())
        assert deliveries_send_due().dead == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DEAD
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.FAILING and endpoint.failing_since is not None
    assert "HTTP 500 after 1 attempts" in endpoint.last_failure
    assert f"webhook endpoint {endpoint.pk}" in caplog.text
    [message] = mail.outbox
    assert message.to == ["ops@brand.example"] and endpoint.name in message.subject
    # A dead delivery is not sent again by the dispatcher …
    assert deliveries_send_due(now=timezone.now() + timedelta(days=2)).claimed == 0
    # … but a replay is, and a success makes the endpoint healthy again.
    receiver.default_status = 200
    assert deliveries_replay(delivery_ids=[delivery.pk], actor=None) == 1
    assert deliveries_send_due().delivered == 1
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.HEALTHY
    replay = WebhookDelivery.objects.get(replay_of=delivery)
    assert replay.event_id == delivery.event_id
    assert receiver.requests[-1].headers["X-UserOps-Event-Id"] == str(delivery.event_id)


def test_a_members_later_event_waits_for_an_earlier_one_still_being_retried(receiver):
    receiver.answers = [500]
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED, EventType.POINTS_SPENT])
    member, other = MemberFactory(), MemberFactory()
    points_earn(member=member, amount=10, reason="first")
    points_spend(member=member, amount=4, reason="second")
    points_earn(member=other, amount=7, reason="someone else")
    outbox_fan_out()
    now = timezone.now()
    result = deliveries_send_due(now=now, concurrency=1)  # one at a time, in key order: the 500 goes to the member's first
    # The member's first event failed; the other member's went; the member's second was not even tried.
    assert (result.claimed, result.retrying, result.delivered) == (2, 1, 1)
    first, second = WebhookDelivery.objects.filter(member_id=member.pk).order_by("sequence")
    assert (first.status, second.status, second.attempts) == (DeliveryStatus.PENDING, DeliveryStatus.PENDING, 0)
    # Later, still not before the first: each run sends the first, then the second.
    later = now + timedelta(minutes=5)
    assert deliveries_send_due(now=later).delivered == 1
    assert deliveries_send_due(now=later).delivered == 1
    types = [r.json["type"] for r in receiver.requests if r.json["data"]["member_id"] == member.pk]
    assert types == ["points.earned", "points.earned", "points.spent"]
    assert endpoint.deliveries.filter(status=DeliveryStatus.DELIVERED).count() == 3


def test_fan_out_twice_and_a_sender_that_died_deliver_each_event_once_more_at_most(receiver):
    WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED])
    WebhookEndpointFactory(url=receiver.url, event_types=[EventType.TIER_CHANGED])  # not this type
    points_earn(member=MemberFactory(), amount=1, reason="x")
    assert outbox_fan_out() == 1
    assert outbox_fan_out() == 0
    assert WebhookDelivery.objects.count() == 1
    # A sender claimed it and died before recording anything: its lease runs out and another sends it.
    WebhookDelivery.objects.update(status=DeliveryStatus.SENDING, lease_until=timezone.now() + timedelta(seconds=60))
    assert deliveries_send_due().claimed == 0
    assert deliveries_send_due(now=timezone.now() + timedelta(seconds=61)).delivered == 1


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(receiver, settings):
    settings.USEROPS_WEBHOOKS = {**settings.USEROPS_WEBHOOKS, "TIMEOUT_SECONDS": 0.3}
    receiver.delay = 1.0
    WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED])
    points_earn(member=MemberFactory(), amount=1, reason="x")
    outbox_fan_out()
    assert deliveries_send_due().retrying == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.error, delivery.response_code) == ("timeout", None)


def test_a_closed_port_is_a_failed_attempt_not_a_crash():
    WebhookEndpointFactory(url="http://127.0.0.1:9/closed", event_types=[EventType.POINTS_EARNED])
    points_earn(member=MemberFactory(), amount=1, reason="x")
    outbox_fan_out()
    assert deliveries_send_due().retrying == 1
    assert "ConnectError" in WebhookDelivery.objects.get().error


def test_the_test_event_and_a_rotated_secret(receiver):
    endpoint, secret = endpoint_create(name="CRM", url=receiver.url, event_types=["points.earned"], actor=None)
    delivery = endpoint_send_test(endpoint=endpoint, actor=None)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.type == "webhook.test"
    new_secret = endpoint_rotate_secret(endpoint=endpoint, actor=None)
    assert new_secret != secret and new_secret.startswith("whsec_")
    endpoint_send_test(endpoint=endpoint, actor=None)
    first, second = receiver.requests
    for request, key in ((first, secret), (second, new_secret)):
        h = request.headers
        assert verify(secret=key, body=request.body, timestamp=h["X-UserOps-Timestamp"], signature=h["X-UserOps-Signature"])
    h = second.headers
    assert not verify(secret=secret, body=second.body, timestamp=h["X-UserOps-Timestamp"], signature=h["X-UserOps-Signature"])
    # The secret is kept out of the audit trail.
    assert not hasattr(WebhookEndpoint.history.model, "secret")


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.8/hook",
        "https://192.168.1.20/hook",
        "https://172.16.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "https://0.0.0.0/hook",
        "http://8.8.8.8/hook",
        "ftp://8.8.8.8/hook",
        "https://user:pass@8.8.8.8/hook",
        "not a url",
    ],
)
def test_private_reserved_and_non_https_addresses_are_refused(url):
    with pytest.raises(ApplicationError) as refused:
        endpoint_create(name="x", url=url, event_types=["points.earned"], actor=None)
    assert refused.value.code == "invalid_url" and "url" in refused.value.fields
    assert WebhookEndpoint.objects.count() == 0


def test_localhost_only_when_local_urls_are_allowed(settings):
    assert destination_check("https://8.8.8.8/hook") == "https://8.8.8.8/hook"
    assert destination_check("http://localhost:8000/hook") == "http://localhost:8000/hook"
    settings.USEROPS_WEBHOOKS = {**settings.USEROPS_WEBHOOKS, "ALLOW_LOCAL_URLS": False}
    for url in ("http://localhost:8000/hook", "https://127.0.0.1/hook", "https://[::1]/hook"):
        with pytest.raises(ApplicationError):
            destination_check(url)


def test_an_address_refused_at_send_time_is_not_posted(receiver, settings):
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED])
    points_earn(member=MemberFactory(), amount=1, reason="x")
    outbox_fan_out()
    settings.USEROPS_WEBHOOKS = {**settings.USEROPS_WEBHOOKS, "ALLOW_LOCAL_URLS": False}
    assert deliveries_send_due().retrying == 1
    assert receiver.requests == []
    assert "Local addresses" in endpoint.deliveries.get().error


@pytest.mark.parametrize(
    ("event_types", "code"), [([], "event_types_required"), (["points.earned", "points.stolen"], "unknown_event_type")]
)
def test_bad_event_types_are_refused_naming_the_field(event_types, code):
    with pytest.raises(ApplicationError) as refused:
        endpoint_create(name="x", url="https://8.8.8.8/h", event_types=event_types, actor=None)
    assert refused.value.code == code and "event_types" in refused.value.fields


def test_outbox_emit_records_one_event_for_a_subscribed_type():
    WebhookEndpointFactory(event_types=[EventType.CAMPAIGN_RUN_STEP])
    outbox_emit(type=EventType.CAMPAIGN_RUN_STEP, data={"run_id": 1})
    outbox_emit(type=EventType.GRANT_ISSUED, data={"grant_id": 1})
    from apps.core.models import OutboxEvent

    assert list(OutboxEvent.objects.values_list("type", flat=True)) == ["campaign.run_step"]
