"""In a real browser: an operations manager registers a webhook endpoint, copies its secret, sends a test event to a
real local receiver and reads the endpoint's delivery log."""

import pytest

from apps.core.roles import OPERATIONS_MANAGER
from apps.webhooks.models import DeliveryStatus, WebhookEndpoint
from apps.webhooks.signing import verify
from tests.webhooks.receiver import running_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_register_an_endpoint_send_a_test_event_and_read_the_delivery_log(page, login_as, settings, screenshot):
    settings.USEROPS_WEBHOOKS = {**settings.USEROPS_WEBHOOKS, "ALLOW_LOCAL_URLS": True, "TIMEOUT_SECONDS": 5.0}
    login_as(OPERATIONS_MANAGER)
    with running_receiver() as receiver:
        page.goto("/admin/webhooks/webhookendpoint/add/")
        page.fill("input[name=name]", "Dealer DMS")
        # First a private address: refused on the URL field, nothing saved.
        page.fill("input[name=url]", "https://10.20.30.40/hooks")
        page.check("input[name=event_types][value='points.earned']")
        page.check("input[name=event_types][value='tier.changed']")
        page.fill("input[name=contact_email]", "dms-team@dealer.example")
        page.locator("button[name=_save], input[name=_save]").first.click()
        page.get_by_text("private or reserved network").first.wait_for()
        assert WebhookEndpoint.objects.count() == 0
        page.fill("input[name=url]", receiver.url)
        page.locator("button[name=_continue], input[name=_continue]").first.click()
        page.get_by_text("copy it now, it is not shown again").first.wait_for()
        endpoint = WebhookEndpoint.objects.get()
        assert page.get_by_text(endpoint.secret).count() == 1  # shown once, in the notice
        page.reload()
        assert page.get_by_text(endpoint.secret).count() == 0
        page.get_by_role("link", name="Send a test event").first.click()
        page.get_by_role("button", name="Confirm").click()
        page.get_by_text("The test event was delivered: HTTP 200").wait_for()
        [request] = receiver.requests
        h = request.headers
        assert verify(secret=endpoint.secret, body=request.body, timestamp=h["X-UserOps-Timestamp"], signature=h["X-UserOps-Signature"])
        page.locator("[data-testid=delivery-log]").first.click()
        page.get_by_text("webhook.test").first.wait_for()
        assert page.get_by_text("Delivered").count() >= 1
        screenshot("webhook-delivery-log")
    delivery = endpoint.deliveries.get()
    assert (delivery.status, delivery.response_code) == (DeliveryStatus.DELIVERED, 200)
