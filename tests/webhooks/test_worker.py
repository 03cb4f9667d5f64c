"""A real worker runs the beat job: an earn made here reaches the local receiver, signed."""

import os
from collections.abc import Iterator

import pytest
from celery import current_app

from apps.core.outbox import EventType
from apps.members.services.ledger import points_earn
from apps.webhooks.models import DeliveryStatus, WebhookDelivery
from apps.webhooks.signing import verify
from tests.conftest import wait_for
from tests.members.factories import MemberFactory
from tests.webhooks.factories import WebhookEndpointFactory


@pytest.fixture
def worker_allows_local_urls() -> Iterator[None]:
    os.environ["USEROPS_WEBHOOK_ALLOW_LOCAL_URLS"] = "true"
    yield
    os.environ.pop("USEROPS_WEBHOOK_ALLOW_LOCAL_URLS", None)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_dispatch_task_delivers_on_a_real_worker(worker_allows_local_urls, receiver, celery_worker_process):
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED])
    entry = points_earn(member=MemberFactory(), amount=12, reason="purchase")
    current_app.send_task("webhooks.dispatch")
    wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists(), timeout=90, what="the delivery")
    [request] = receiver.requests
    h = request.headers
    assert verify(secret=endpoint.secret, body=request.body, timestamp=h["X-UserOps-Timestamp"], signature=h["X-UserOps-Signature"])
    assert request.json["data"]["entry_id"] == entry.pk
