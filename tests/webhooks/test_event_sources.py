"""Each service named in docs/webhooks.md records its event, with the documented payload, in its own transaction."""

import pytest
from django.utils import timezone

from apps.benefits import services as benefit_services
from apps.benefits.models import GrantSource, RedemptionChannel
from apps.campaigns import services as campaign_services
from apps.core.models import OutboxEvent
from apps.core.outbox import EventType
from apps.events import services as event_services
from apps.members.services import growth_add
from apps.members.services.ledger import points_adjust, points_earn, points_reverse, points_spend
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory
from tests.webhooks.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db


def _events(prefix: str = "") -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type__startswith=prefix).order_by("pk"))


def test_every_points_kind_has_its_event(staff):
    WebhookEndpointFactory()
    member = MemberFactory()
    points_earn(member=member, amount=100, reason="purchase")
    spent = points_spend(member=member, amount=30, reason="coffee")
    points_adjust(member=member, amount=5, reason="goodwill", actor=staff("Operations manager"))
    points_reverse(entry=spent, reason="order refunded")
    events = _events("points.")
    assert [e.type for e in events] == ["points.earned", "points.spent", "points.adjusted", "points.reversed"]
    assert [e.payload["amount"] for e in events] == [100, -30, 5, 30]
    assert events[-1].payload["reverses_entry_id"] == spent.pk


def test_a_promotion_records_tier_changed():
    WebhookEndpointFactory(event_types=[EventType.TIER_CHANGED])
    member = MemberFactory()
    _entry, change = growth_add(member=member, amount=1000, reason="Purchase")
    [event] = _events()
    assert event.payload == {
        "member_id": member.pk,
        "tier_change_id": change.pk,
        "kind": "promotion",
        "from_tier": change.from_tier.code,
        "to_tier": change.to_tier.code,
        "growth_value": 1000,
    }


def test_grants_issued_redeemed_and_revoked_never_carry_the_code():
    WebhookEndpointFactory(event_types=[EventType.GRANT_ISSUED, EventType.GRANT_REDEEMED, EventType.GRANT_REVOKED])
    member = MemberFactory()
    benefit = BenefitFactory()
    grant = benefit_services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF)
    redemption = benefit_services.grant_redeem(code=grant.code, channel=RedemptionChannel.POS, order_ref="POS-1")
    other = benefit_services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF)
    benefit_services.grant_revoke(grant=other, reason="issued by mistake")
    events = _events("grant.")
    assert [e.type for e in events] == ["grant.issued", "grant.redeemed", "grant.issued", "grant.revoked"]
    assert events[1].payload["redemption_id"] == redemption.pk and events[1].payload["order_ref"] == "POS-1"
    assert events[3].payload["state"] == "revoked"
    for event in events:
        assert grant.code not in str(event.payload) and other.code not in str(event.payload)


def test_a_bulk_grant_chunk_records_one_event_per_grant_in_one_insert():
    WebhookEndpointFactory(event_types=[EventType.GRANT_ISSUED])
    members = MemberFactory.create_batch(3)
    result = benefit_services.grants_issue_bulk(
        benefit=BenefitFactory(), member_ids=[m.pk for m in members], source=GrantSource.CAMPAIGN, source_ref="run:1"
    )
    assert result.issued == 3
    assert sorted(e.member_id for e in _events("grant.")) == sorted(m.pk for m in members)


def test_registration_changes_and_check_in():
    WebhookEndpointFactory(event_types=[EventType.REGISTRATION_CHANGED, EventType.REGISTRATION_CHECKED_IN])
    event = EventFactory(about_to_start=True, capacity=1)
    first, second = MemberFactory(), MemberFactory()
    seated = event_services.registration_create(event=event, member=first)
    waiting = event_services.registration_create(event=event, member=second)
    event_services.registration_cancel(registration=seated, reason="cannot come")
    waiting.refresh_from_db()
    event_services.registration_check_in(ticket=waiting.ticket_code, event=event, now=timezone.now())
    events = _events("registration.")
    assert [(e.type, e.member_id, e.payload["state"]) for e in events] == [
        ("registration.changed", first.pk, "registered"),
        ("registration.changed", second.pk, "waitlisted"),
        ("registration.changed", first.pk, "cancelled"),
        ("registration.changed", second.pk, "registered"),
        ("registration.checked_in", second.pk, "attended"),
    ]
    assert all(waiting.ticket_code not in str(e.payload) for e in events)


def test_a_campaign_run_records_one_step_per_chunk_not_per_member():
    WebhookEndpointFactory(event_types=[EventType.CAMPAIGN_RUN_STEP])
    MemberFactory.create_batch(5)
    campaign = CampaignFactory(points_amount=10, points_valid_days=30)
    run = campaign_services.campaign_launch(campaign=campaign)
    campaign_services.campaign_run_execute(run_id=run.pk, chunk_size=2)
    steps = _events("campaign.")
    assert len(steps) == 4  # chunks of 2, 2, 1, then the empty read that completes the run
    assert [s.payload["processed"] for s in steps] == [2, 4, 5, 5]
    assert steps[-1].payload["status"] == "completed" and steps[-1].member_id is None
    assert OutboxEvent.objects.exclude(type="campaign.run_step").count() == 0
