"""The trusted API for webhook endpoints: a client manages its own endpoints only, the secret is shown once."""

import uuid

import pytest
from django.utils import timezone

from apps.core.models import ApiScope
from apps.core.outbox import EVENT_TYPE_READ_SCOPES, EventType, outbox_subscribed_types
from apps.members.services.ledger import points_earn
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import outbox_fan_out, webhooks_dispatch
from apps.webhooks.signing import verify
from tests.members.factories import MemberFactory
from tests.webhooks.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhooks/endpoints/"
NEW = {"name": "crm", "url": "http://127.0.0.1:9/hooks", "event_types": ["points.earned", "tier.changed"]}


@pytest.fixture
def api(trusted_client):
    """A client that manages webhooks and may read members, so it may hear of members' points and tiers."""
    return trusted_client([ApiScope.WEBHOOKS_MANAGE, ApiScope.MEMBERS_READ])


def create(client, **fields) -> dict:
    response = client.post(ENDPOINTS, {**NEW, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_client_registers_an_endpoint_and_sees_the_secret_once(api):
    client, api_client = api
    created = create(client)
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint.api_client == api_client and created["secret"] == endpoint.secret
    assert created["event_types"] == ["points.earned", "tier.changed"] and created["is_active"] is True
    assert outbox_subscribed_types() == {"points.earned", "tier.changed"}
    shown = client.get(f"{ENDPOINTS}{endpoint.pk}/").json()
    assert "secret" not in shown and shown["secret_hint"] == endpoint.secret_hint
    listed = client.get(ENDPOINTS).json()
    assert [row["id"] for row in listed["results"]] == [endpoint.pk] and "secret" not in listed["results"][0]


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"event_types": ["points.earned", "nonsense"]}, "event_types", "invalid"),
        ({"event_types": []}, "event_types", "invalid"),
        ({"name": ""}, "name", "invalid"),
        ({"contact_email": "not an email"}, "contact_email", "invalid"),
        ({"url": "https://10.0.0.8/hooks"}, "url", "invalid_url"),
        ({"url": "https://user:pw@crm.example.com/hooks"}, "url", "invalid_url"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(api, fields, field, code, settings):
    settings.USEROPS_WEBHOOKS = {**settings.USEROPS_WEBHOOKS, "ALLOW_LOCAL_URLS": False}
    client, _api_client = api
    response = client.post(ENDPOINTS, {**NEW, **fields}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and field in error["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_a_duplicate_name_is_refused_on_the_name(api):
    client, _api_client = api
    create(client)
    response = client.post(ENDPOINTS, NEW, format="json")
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]


def test_update_changes_only_the_fields_given_and_disable_stops_new_events(api):
    client, _api_client = api
    created = create(client)
    changed = client.patch(f"{ENDPOINTS}{created['id']}/", {"event_types": ["points.spent"]}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["event_types"] == ["points.spent"] and changed.json()["name"] == "crm"
    refused = client.patch(f"{ENDPOINTS}{created['id']}/", {"url": "ftp://127.0.0.1/hooks"}, format="json")
    assert refused.status_code == 400 and "url" in refused.json()["error"]["fields"]
    disabled = client.patch(f"{ENDPOINTS}{created['id']}/", {"is_active": False}, format="json")
    assert disabled.json()["is_active"] is False
    assert outbox_subscribed_types() == frozenset()
    assert WebhookEndpoint.objects.get(pk=created["id"]).url == NEW["url"]


def test_rotating_the_secret_shows_the_new_one_once(api):
    client, _api_client = api
    created = create(client)
    rotated = client.post(f"{ENDPOINTS}{created['id']}/rotate-secret/")
    assert rotated.status_code == 200
    secret = rotated.json()["secret"]
    assert secret != created["secret"] and WebhookEndpoint.objects.get(pk=created["id"]).secret == secret
    assert secret not in client.get(f"{ENDPOINTS}{created['id']}/").content.decode()


def test_another_clients_endpoints_and_staff_endpoints_are_unreachable(api, trusted_client):
    client, _api_client = api
    other, _other_client = trusted_client([ApiScope.WEBHOOKS_MANAGE, ApiScope.MEMBERS_READ])
    theirs = create(other, name="their crm")
    staff = WebhookEndpointFactory()
    delivery = WebhookDelivery.objects.create(
        endpoint_id=theirs["id"], event_id=uuid.uuid4(), type="points.earned", occurred_at=timezone.now(), status=DeliveryStatus.DEAD
    )
    assert client.get(ENDPOINTS).json()["results"] == []
    for pk in (theirs["id"], staff.pk):
        assert client.get(f"{ENDPOINTS}{pk}/").status_code == 404
        assert client.patch(f"{ENDPOINTS}{pk}/", {"is_active": False}, format="json").status_code == 404
        assert client.post(f"{ENDPOINTS}{pk}/rotate-secret/").status_code == 404
        assert client.get(f"{ENDPOINTS}{pk}/deliveries/").status_code == 404
    assert client.post(f"{ENDPOINTS}{theirs['id']}/deliveries/{delivery.pk}/replay/").status_code == 404
    mine = create(client, name="mine")
    assert client.post(f"{ENDPOINTS}{mine['id']}/deliveries/{delivery.pk}/replay/").status_code == 404
    assert WebhookEndpoint.objects.get(pk=theirs["id"]).is_active and WebhookEndpoint.objects.get(pk=staff.pk).is_active
    assert WebhookDelivery.objects.count() == 1


def test_a_key_without_the_scope_is_refused(trusted_client):
    client, _api_client = trusted_client([ApiScope.MEMBERS_READ])
    assert client.get(ENDPOINTS).status_code == 403
    assert client.post(ENDPOINTS, NEW, format="json").status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_every_event_type_names_the_read_scopes_it_needs():
    assert set(EVENT_TYPE_READ_SCOPES) == set(EventType.values)
    assert all(scopes and set(scopes) <= set(ApiScope.values) for scopes in EVENT_TYPE_READ_SCOPES.values())


def test_a_client_may_subscribe_only_to_what_it_may_read(trusted_client):
    client, _api_client = trusted_client([ApiScope.WEBHOOKS_MANAGE])
    response = client.post(ENDPOINTS, {**NEW, "event_types": ["points.earned", "campaign.run_step"]}, format="json")
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "scope_required"
    assert error["fields"]["event_types"] == {"points.earned": ["members:read"], "campaign.run_step": ["analytics:read"]}
    assert "points.earned" in error["message"] and "members:read" in error["message"]
    assert not WebhookEndpoint.objects.exists()
    assert outbox_subscribed_types() == frozenset()


def test_an_update_cannot_add_a_type_the_client_may_not_read(trusted_client):
    client, _api_client = trusted_client([ApiScope.WEBHOOKS_MANAGE, ApiScope.ANALYTICS_READ])
    created = create(client, event_types=["campaign.run_step"])
    refused = client.patch(f"{ENDPOINTS}{created['id']}/", {"event_types": ["campaign.run_step", "tier.changed"]}, format="json")
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["fields"]["event_types"] == {"tier.changed": ["members:read"]}
    assert WebhookEndpoint.objects.get(pk=created["id"]).event_types == ["campaign.run_step"]


def test_a_client_that_loses_the_read_scope_stops_receiving_what_needs_it(api):
    client, api_client = api
    created = create(client, event_types=["points.earned"])
    api_client.scopes = [ApiScope.WEBHOOKS_MANAGE]
    api_client.save()
    points_earn(member=MemberFactory(), amount=10, reason="purchase", source_ref="order:1")
    assert outbox_fan_out() == 1
    assert not WebhookDelivery.objects.filter(endpoint_id=created["id"]).exists()
    staff_endpoint = WebhookEndpointFactory(event_types=["points.earned"])
    points_earn(member=MemberFactory(), amount=10, reason="purchase", source_ref="order:2")
    assert outbox_fan_out() == 1
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [staff_endpoint.pk]


def test_a_client_that_loses_the_read_scope_no_longer_reads_or_replays_those_deliveries(api):
    client, api_client = api
    created = create(client, event_types=["points.earned"])
    points_earn(member=MemberFactory(), amount=10, reason="purchase", source_ref="order:1")
    outbox_fan_out()
    delivery = WebhookDelivery.objects.get(endpoint_id=created["id"])
    log = f"{ENDPOINTS}{created['id']}/deliveries/"
    assert [row["id"] for row in client.get(log).json()["results"]] == [delivery.pk]
    api_client.scopes = [ApiScope.WEBHOOKS_MANAGE]
    api_client.save()
    assert client.get(log).json()["results"] == []
    assert client.post(f"{log}{delivery.pk}/replay/").status_code == 404
    assert WebhookDelivery.objects.count() == 1


def test_the_delivery_log_and_a_replay_against_a_real_receiver(api, receiver):
    client, _api_client = api
    receiver.answers = [500]
    created = create(client, url=receiver.url, event_types=["points.earned"])
    member = MemberFactory()
    points_earn(member=member, amount=10, reason="purchase", source_ref="order:1")
    webhooks_dispatch(seconds=5)
    log = client.get(f"{ENDPOINTS}{created['id']}/deliveries/").json()["results"]
    assert [(row["type"], row["status"], row["response_code"], row["attempts"]) for row in log] == [("points.earned", "pending", 500, 1)]
    assert log[0]["payload"]["source_ref"] == "order:1"
    assert client.get(f"{ENDPOINTS}{created['id']}/deliveries/?status=delivered").json()["results"] == []
    bad_filter = client.get(f"{ENDPOINTS}{created['id']}/deliveries/?status=lost")
    assert bad_filter.status_code == 400 and "status" in bad_filter.json()["error"]["fields"]
    replayed = client.post(f"{ENDPOINTS}{created['id']}/deliveries/{log[0]['id']}/replay/")
    assert replayed.status_code == 202 and replayed.json() == {"replayed": 1}
    webhooks_dispatch(seconds=5)
    log = client.get(f"{ENDPOINTS}{created['id']}/deliveries/").json()["results"]
    assert log[0]["replay_of"] == log[1]["id"] and log[0]["status"] == "delivered"
    assert log[0]["event_id"] == log[1]["event_id"]
    last = receiver.requests[-1]
    timestamp, signature = last.headers["X-UserOps-Timestamp"], last.headers["X-UserOps-Signature"]
    assert verify(secret=created["secret"], body=last.body, timestamp=timestamp, signature=signature)


def test_the_endpoints_are_in_the_openapi_schema(client):
    schema = client.get("/api/v1/schema/").content.decode()
    for path in ("/api/v1/webhooks/endpoints/", "/rotate-secret/", "/deliveries/{delivery_pk}/replay/"):
        assert path in schema
    assert "points.earned" in schema  # the event types are listed as the choices
