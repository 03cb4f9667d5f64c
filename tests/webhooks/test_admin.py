"""The back office: who may manage endpoints, the secret shown once, the failing notice, the log and its replay."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.core.outbox import EventType
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members.services.ledger import points_earn
from apps.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import deliveries_send_due, outbox_fan_out
from tests.members.factories import MemberFactory
from tests.webhooks.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db

ADD = "admin:webhooks_webhookendpoint_add"


def _form(**overrides: object) -> dict:
    return {
        "name": "CRM",
        "url": "https://8.8.8.8/userops",
        "event_types": ["points.earned", "tier.changed"],
        "contact_email": "crm-team@brand.example",
        "is_active": "on",
        **overrides,
    }


@pytest.mark.parametrize("role", [CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST])
def test_only_operations_managers_and_superusers_manage_endpoints(client, staff, role):
    client.force_login(staff(role))
    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), _form()).status_code == 403
    assert client.get(reverse("admin:webhooks_webhookdelivery_changelist")).status_code == 403
    assert WebhookEndpoint.objects.count() == 0


def test_an_operations_manager_registers_an_endpoint_and_sees_its_secret_once(client, staff):
    manager = staff(OPERATIONS_MANAGER)
    client.force_login(manager)
    done = client.post(reverse(ADD), _form())
    assert done.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["points.earned", "tier.changed"] and endpoint.created_by == manager
    change_url = reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])
    assert endpoint.secret in client.get(change_url).content.decode()  # the notice after saving
    page = client.get(change_url).content.decode()
    assert endpoint.secret not in page and endpoint.secret_hint in page
    # The change is in the audit trail, by whom, without the secret.
    record = endpoint.history.get()
    assert record.history_user == manager and not hasattr(record, "secret")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"url": "https://10.1.2.3/hook"}, "url", "private or reserved network"),
        ({"url": "http://8.8.8.8/hook"}, "url", "https://"),
        ({"event_types": ["points.stolen"]}, "event_types", "Select a valid choice"),
    ],
)
def test_a_refused_endpoint_is_a_form_error_on_its_field_and_nothing_is_saved(client, staff, overrides, field, message):
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.post(reverse(ADD), _form(**overrides))
    assert page.status_code == 200
    assert message in str(page.context["adminform"].form.errors[field])
    assert WebhookEndpoint.objects.count() == 0


def test_the_endpoint_list_tells_staff_which_endpoints_are_failing(client, staff):
    WebhookEndpointFactory(name="Dealer DMS", status=EndpointStatus.FAILING, last_failure="HTTP 500 after 12 attempts")
    WebhookEndpointFactory(name="Warehouse")
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:webhooks_webhookendpoint_changelist"))
    notices = [str(m) for m in get_messages(page.wsgi_request)]
    assert len(notices) == 1 and "Dealer DMS" in notices[0] and "HTTP 500 after 12 attempts" in notices[0]


def _dead_delivery(receiver) -> WebhookDelivery:
    receiver.default_status = 500
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=[EventType.POINTS_EARNED])
    points_earn(member=MemberFactory(), amount=5, reason="x")
    outbox_fan_out()
    deliveries_send_due()
    WebhookDelivery.objects.update(status=DeliveryStatus.DEAD)
    return endpoint.deliveries.get()


def test_the_delivery_log_lists_an_endpoints_deliveries_with_their_answers(client, staff, receiver):
    delivery = _dead_delivery(receiver)
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:webhooks_webhookdelivery_changelist") + f"?endpoint__id__exact={delivery.endpoint_id}")
    assert page.status_code == 200
    assert "points.earned" in page.content.decode()
    detail = client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])).content.decode()
    assert "receiver says no" in detail and "500" in detail
    assert len(delivery.response_body) == 500


def test_replaying_a_filtered_set_asks_first_and_get_changes_nothing(client, staff, receiver):
    delivery = _dead_delivery(receiver)
    client.force_login(staff(OPERATIONS_MANAGER))
    changelist = reverse("admin:webhooks_webhookdelivery_changelist") + "?status__exact=dead"
    asked = client.post(changelist, {"action": "replay_selected", "_selected_action": [delivery.pk]})
    assert asked.status_code == 200 and 'data-testid="confirmation"' in asked.content.decode()
    assert WebhookDelivery.objects.count() == 1
    done = client.post(changelist, {"action": "replay_selected", "_selected_action": [delivery.pk], "confirmed": "yes"})
    assert done.status_code == 302
    replay = WebhookDelivery.objects.get(replay_of=delivery)
    assert (replay.status, replay.event_id, replay.replayed_by.username) == (
        DeliveryStatus.PENDING,
        delivery.event_id,
        asked.wsgi_request.user.username,
    )
    # The one-delivery page: GET shows the question, POST replays.
    url = reverse("admin:webhooks_webhookdelivery_replay", args=[delivery.pk])
    assert client.get(url).status_code == 200
    assert WebhookDelivery.objects.count() == 2
    assert client.post(url, {}).status_code == 302
    assert WebhookDelivery.objects.count() == 3


def test_replay_of_the_failed_deliveries_and_send_test_from_the_endpoint_page(client, staff, receiver):
    delivery = _dead_delivery(receiver)
    receiver.default_status = 200
    client.force_login(staff(OPERATIONS_MANAGER))
    replay_url = reverse("admin:webhooks_webhookendpoint_replay_dead", args=[delivery.endpoint_id])
    page = client.get(replay_url)
    assert "1 failed deliveries" in page.content.decode()
    assert client.post(replay_url, {}).status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=delivery).count() == 1
    sent = client.post(reverse("admin:webhooks_webhookendpoint_send_test", args=[delivery.endpoint_id]), {})
    assert sent.status_code == 302
    assert any("The test event was delivered: HTTP 200" in str(m) for m in get_messages(sent.wsgi_request))
    assert receiver.requests[-1].json["type"] == "webhook.test"


def test_the_back_office_speaks_chinese(client, staff):
    from django.utils import translation

    with translation.override("zh-hans"):
        assert str(EventType.POINTS_EARNED.label) == "获得积分"
        assert str(WebhookEndpoint._meta.verbose_name) == "推送端点"
        assert str(DeliveryStatus.DEAD.label) == "最终失败"
    user = staff(OPERATIONS_MANAGER, language="zh-hans")
    client.force_login(user)
    page = client.get(reverse(ADD), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "事件类型" in page and "会员等级变更" in page


def test_the_sidebar_links_the_endpoints_for_those_who_may_see_them(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert reverse("admin:webhooks_webhookendpoint_changelist") in client.get("/admin/").content.decode()
    client.force_login(staff(CUSTOMER_SERVICE))
    assert reverse("admin:webhooks_webhookendpoint_changelist") not in client.get("/admin/").content.decode()
