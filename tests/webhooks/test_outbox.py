"""The outbox: written in the changing transaction, only for subscribed types, set-based for sets."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core.errors import ApplicationError
from apps.core.models import OutboxEvent
from apps.core.outbox import EventType, outbox_subscribed_types
from apps.members.models import PointsAccount, PointsEntry, PointsEntryKind
from apps.members.services import ledger
from apps.members.services.ledger import PointsCredit, points_credit_many, points_earn, points_spend
from apps.members.services.privacy import member_anonymise
from apps.members.services.profile import member_enrol, member_update_profile
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import endpoint_update, outbox_fan_out
from tests.members.factories import MemberFactory
from tests.webhooks.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db


def test_nothing_is_written_when_nobody_subscribes():
    member = MemberFactory()
    WebhookEndpointFactory(event_types=[EventType.TIER_CHANGED])
    WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED], is_active=False)
    points_earn(member=member, amount=100, reason="welcome")
    assert OutboxEvent.objects.count() == 0


def test_a_subscribed_earn_writes_one_event_with_its_documented_payload():
    member = MemberFactory()
    WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED])
    entry = points_earn(member=member, amount=100, reason="welcome", source_ref="order:42")
    points_spend(member=member, amount=10, reason="coffee")  # not subscribed
    event = OutboxEvent.objects.get()
    assert event.type == "points.earned"
    assert event.member_id == member.pk
    assert event.payload == {
        "member_id": member.pk,
        "entry_id": entry.pk,
        "kind": PointsEntryKind.EARN,
        "amount": 100,
        "balance_after": 100,
        "reason_code": "",
        "source_ref": "order:42",
        "expires_at": entry.expires_at.isoformat(),
        "reverses_entry_id": None,
    }


def test_a_rolled_back_change_leaves_no_event_and_no_delivery():
    member = MemberFactory()
    WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED])
    with pytest.raises(RuntimeError), transaction.atomic():
        points_earn(member=member, amount=100, reason="welcome")
        assert OutboxEvent.objects.count() == 1
        raise RuntimeError("the caller's transaction fails after the earn")
    assert OutboxEvent.objects.count() == 0
    assert outbox_fan_out() == 0
    assert WebhookDelivery.objects.count() == 0


def _earn_statements(member_id: int, source_ref: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        points_earn(member=member_id, amount=10, reason="purchase", source_ref=source_ref)
    return [q["sql"] for q in queries]


def test_a_subscribed_earn_makes_no_more_round_trips_than_an_unsubscribed_one():
    member = MemberFactory()
    points_earn(member=member, amount=10, reason="warm up")  # the first earn may open what later ones reuse
    unsubscribed = _earn_statements(member.pk, "order:1")
    WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED])
    outbox_subscribed_types()  # both sides read the cached set; fill it before counting
    subscribed = _earn_statements(member.pk, "order:2")
    assert len(subscribed) == len(unsubscribed)
    table = OutboxEvent._meta.db_table
    [carrier] = [sql for sql in subscribed if table in sql]
    assert "outbox AS (INSERT INTO" in carrier and "UPDATE" in carrier  # the event rides in the balance update
    assert OutboxEvent.objects.get().payload["source_ref"] == "order:2"


def test_an_event_written_with_the_balance_rolls_back_with_a_later_failure_in_the_transaction():
    member = MemberFactory()
    WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED, EventType.POINTS_SPENT])
    with pytest.raises(ApplicationError), transaction.atomic():
        points_earn(member=member, amount=100, reason="welcome")
        points_spend(member=member, amount=500, reason="too much")
    assert OutboxEvent.objects.count() == 0
    assert PointsEntry.objects.count() == 0
    assert PointsAccount.objects.get(member=member).balance == 0


def test_a_members_events_are_numbered_in_the_order_they_happened():
    member = MemberFactory()
    WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED, EventType.POINTS_SPENT])
    entries = [points_earn(member=member, amount=50, reason="purchase"), points_spend(member=member, amount=20, reason="coffee")]
    entries.append(points_earn(member=member, amount=5, reason="purchase"))
    events = OutboxEvent.objects.filter(member_id=member.pk).order_by("pk")
    assert [e.payload["entry_id"] for e in events] == [e.pk for e in entries]
    assert [e.payload["balance_after"] for e in events] == [50, 30, 35]


def test_a_set_of_credits_is_one_insert_into_the_outbox():
    members = MemberFactory.create_batch(60)
    WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED])
    credits = [PointsCredit(member_id=m.pk, amount=5, reason="campaign") for m in members]
    with CaptureQueriesContext(connection) as queries:
        points_credit_many(credits=credits)
    table = OutboxEvent._meta.db_table
    writes = [q["sql"] for q in queries if table in q["sql"] and ("INSERT" in q["sql"] or "COPY" in q["sql"])]
    assert len(writes) == 1
    assert OutboxEvent.objects.filter(type="points.earned").count() == 60
    assert sorted(OutboxEvent.objects.values_list("member_id", flat=True)) == sorted(m.pk for m in members)


def test_the_subscribed_types_follow_endpoint_changes_at_once():
    endpoint = WebhookEndpointFactory(event_types=[EventType.POINTS_EARNED])
    assert outbox_subscribed_types() == {"points.earned"}
    endpoint_update(
        endpoint=endpoint, name=endpoint.name, url=endpoint.url, event_types=["points.spent"], contact_email="", is_active=True, actor=None
    )
    assert outbox_subscribed_types() == {"points.spent"}
    endpoint_update(
        endpoint=endpoint, name=endpoint.name, url=endpoint.url, event_types=["points.spent"], contact_email="", is_active=False, actor=None
    )
    assert outbox_subscribed_types() == set()


def test_member_events_carry_ids_never_personal_data():
    WebhookEndpointFactory()
    member = member_enrol(name="王小明", phone="+8613800138000", email="xm@example.com", external_id="CRM-1")
    member_update_profile(member=member, city="北京")
    member_anonymise(member=member, reason="PIPL request")
    events = list(OutboxEvent.objects.filter(type__startswith="member.").order_by("pk"))
    assert [e.type for e in events] == ["member.enrolled", "member.updated", "member.anonymised"]
    assert events[0].payload == {"member_id": member.pk, "external_id": "CRM-1", "status": "active", "source_channel": "app"}
    assert events[1].payload["changed"] == ["city"]
    assert events[2].payload["external_id"] is None
    text = str([e.payload for e in events])
    for personal in ("王小明", "13800138000", "xm@example.com", "北京"):
        assert personal not in text


def test_expiry_is_emitted_set_based(monkeypatch: pytest.MonkeyPatch):
    from datetime import timedelta

    from django.utils import timezone

    member = MemberFactory()
    points_earn(member=member, amount=30, reason="old", expires_at=timezone.now() + timedelta(minutes=1))
    WebhookEndpointFactory(event_types=[EventType.POINTS_EXPIRED])
    assert ledger.points_expire_due(now=timezone.now() + timedelta(days=1)) == 30
    event = OutboxEvent.objects.get()
    assert (event.type, event.payload["amount"], event.payload["balance_after"]) == ("points.expired", -30, 0)
