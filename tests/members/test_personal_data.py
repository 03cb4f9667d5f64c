"""PIPL member rights: data export (member and staff), anonymisation, consent withdrawal in one step."""

import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apps.benefits import services as benefit_services
from apps.campaigns import services as campaign_services
from apps.core.models import AccessAction, AccessLogEntry, ApiScope
from apps.core.roles import ANALYST, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services as event_services
from apps.members import services
from apps.members.models import Consent, ConsentChannel, Member, MemberStatus, MemberToken
from apps.messaging import services as messaging_services
from apps.messaging.models import Message, MessageState
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory
from tests.events.factories import EventFactory
from tests.members.factories import ConsentFactory, MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich_member():
    """A member with something in every app: points, growth, consent history, a grant, a registration, a message."""
    MessageTemplateFactory()
    member = services.member_enrol(
        name="王芳",
        phone="13800138000",
        email="wang.fang@example.com",
        birthday=date(1990, 5, 8),
        city="上海",
        external_id="CRM-1",
        consents={"sms": True, "email": True},
    )
    services.points_earn(member=member, amount=1000, reason="Purchase")
    services.points_spend(member=member, amount=200, reason="Mall")
    services.growth_add(member=member, amount=50, reason="Purchase")
    benefit_services.grant_issue(benefit=BenefitFactory(name="Free car wash"), member=member, source="staff")
    event_services.registration_create(event=EventFactory(title="Owners' meetup"), member=member)
    messaging_services.message_enqueue(
        member=member, channel="sms", template_code="welcome", context={"benefit_code": "X"}, dedupe_key="pd-1", purpose="marketing"
    )
    return member


def test_member_exports_their_own_data_as_json(member_client, rich_member):
    api, member = member_client(rich_member)
    response = api.get("/api/v1/me/data-export/")
    assert response.status_code == 200
    data = response.json()
    assert data["format"] == "userops.member-data/1"
    assert data["member"]["phone"] == "+8613800138000" and data["member"]["birthday"] == "1990-05-08"
    assert data["points"]["balance"] == 800 and [e["amount"] for e in data["points"]["ledger"]] == [1000, -200]
    assert [g["amount"] for g in data["growth"]] == [50]
    assert data["tier_changes"][0]["kind"] == "initial"
    assert {c["channel"] for c in data["consents"]} == {"sms", "email"} and len(data["consent_history"]) >= 2
    assert [g["benefit"] for g in data["benefit_grants"]] == ["Free car wash"]
    assert [r["event"] for r in data["event_registrations"]] == ["Owners' meetup"]
    assert len(data["messages"]) == 1 and "referrals" in data and "campaign_actions" in data
    entry = AccessLogEntry.objects.get(action=AccessAction.DATA_EXPORT)
    assert entry.object_id == str(member.pk) and entry.client_id is not None


def test_member_data_export_never_includes_another_member(member_client, rich_member):
    api, _other = member_client()
    data = api.get("/api/v1/me/data-export/").json()
    assert data["member"]["id"] != rich_member.pk and data["points"]["ledger"] == [] and data["benefit_grants"] == []


def test_staff_export_needs_the_right_and_is_logged(client, staff, rich_member):
    url = reverse("admin:members_member_export_personal_data", args=[rich_member.pk])
    client.force_login(staff(ANALYST))
    assert client.get(url).status_code in (302, 403)
    client.force_login(staff(CUSTOMER_SERVICE))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["member"]["email"] == "wang.fang@example.com"
    assert AccessLogEntry.objects.filter(action=AccessAction.DATA_EXPORT, object_id=str(rich_member.pk)).count() == 1


def test_anonymise_scrubs_personal_fields_and_history_but_keeps_the_books(rich_member, staff, capsys):
    actor = staff(OPERATIONS_MANAGER)
    member = services.member_anonymise(member=rich_member, reason="Deletion request #42", actor=actor)
    member.refresh_from_db()
    assert (member.name, member.phone, member.email, member.birthday, member.city, member.external_id) == (
        f"anonymised-{member.pk}",
        None,
        "",
        None,
        "",
        None,
    )
    assert member.status == MemberStatus.CLOSED and member.status_reason == "Deletion request #42" and member.anonymised_at
    assert not Consent.objects.filter(member=member, granted=True).exists()
    assert not MemberToken.objects.filter(member=member, revoked_at__isnull=True).exists()
    # nothing in the audit trail still names the person; the last version says who and why
    assert not member.history.filter(phone="+8613800138000").exists()
    assert set(member.history.values_list("name", flat=True)) == {f"anonymised-{member.pk}"}
    latest = member.history.order_by("-history_id").first()
    assert (latest.history_user, latest.history_change_reason) == (actor, "Deletion request #42")
    # messages lose their bodies and nothing queued goes out
    message = Message.objects.get(member=member)
    assert message.body == "[anonymised]" and message.state == MessageState.FAILED
    # the ledger is untouched and still reconciles
    assert member.points_account.entries.count() == 2
    call_command("reconcile_points")
    assert "All points accounts reconcile" in capsys.readouterr().out
    # twice is refused
    with pytest.raises(Exception, match="already anonymised"):
        services.member_anonymise(member=member, reason="again", actor=actor)


def test_anonymise_in_the_back_office_asks_for_confirmation(client, staff, rich_member):
    url = reverse("admin:members_member_anonymise", args=[rich_member.pk])
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.get(url).status_code in (302, 403)
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get(url).status_code == 200
    unconfirmed = client.post(url, {"reason": "Deletion request"})
    assert unconfirmed.status_code == 200 and Member.objects.get(pk=rich_member.pk).anonymised_at is None
    done = client.post(url, {"reason": "Deletion request", "confirm": "on"})
    assert done.status_code == 302
    assert Member.objects.get(pk=rich_member.pk).anonymised_at is not None
    assert AccessLogEntry.objects.filter(action=AccessAction.ANONYMISE, object_id=str(rich_member.pk)).exists()


def test_anonymise_and_export_through_the_api_for_staff_and_systems(api, trusted_client, staff, rich_member):
    other = MemberFactory()
    without_scope, _client = trusted_client([ApiScope.MEMBERS_READ])
    assert without_scope.get(f"/api/v1/members/{other.pk}/data-export/").status_code == 403
    rights, _client = trusted_client([ApiScope.MEMBER_DATA_RIGHTS])
    assert rights.get(f"/api/v1/members/{other.pk}/data-export/").json()["member"]["id"] == other.pk
    assert rights.post(f"/api/v1/members/{other.pk}/anonymise/", {}, format="json").status_code == 400
    assert rights.post(f"/api/v1/members/{other.pk}/anonymise/", {"reason": "Request"}, format="json").status_code == 200
    assert rights.post(f"/api/v1/members/{other.pk}/anonymise/", {"reason": "Request"}, format="json").status_code == 409

    api.force_login(staff(CUSTOMER_SERVICE))  # may export, may not anonymise
    assert api.get(f"/api/v1/members/{rich_member.pk}/data-export/").status_code == 200
    assert api.post(f"/api/v1/members/{rich_member.pk}/anonymise/", {"reason": "x"}, format="json").status_code == 403
    api.force_login(staff(OPERATIONS_MANAGER))
    assert api.post(f"/api/v1/members/{rich_member.pk}/anonymise/", {"reason": "x"}, format="json").status_code == 200
    assert api.get("/api/v1/members/999999/data-export/").status_code == 404


def test_consent_withdrawn_in_one_step_is_honoured_by_campaigns_and_the_outbox(member_client):
    for channel in ConsentChannel.values:
        MessageTemplateFactory(code="promo", channel=channel)
    api, member = member_client()
    for channel in ConsentChannel.values:
        ConsentFactory(member=member, channel=channel, granted=True)
    queued = messaging_services.message_enqueue(
        member=member, channel="sms", template_code="promo", context={}, dedupe_key="before", purpose="marketing"
    )
    response = api.post("/api/v1/me/consents/withdraw/")
    assert response.status_code == 200 and response.json() == dict.fromkeys(ConsentChannel.values, False)
    # a message queued before the withdrawal is not sent
    messaging_services.messages_send_due(now=timezone.now() + timedelta(days=1))
    queued.refresh_from_db()
    assert queued.state == MessageState.FAILED and queued.last_error == "no_consent"
    # every marketing campaign, on every channel, skips the member
    for channel in ConsentChannel.values:
        campaign = CampaignFactory(
            name=f"promo-{channel}", points_amount=None, message_channel=channel, message_template_code="promo", message_purpose="marketing"
        )
        run = campaign_services.campaign_launch(campaign=campaign)
        run = campaign_services.campaign_run_execute(run_id=run.pk)
        assert (run.acted, run.skipped_no_consent, run.messages_queued) == (0, 1, 0), channel
    assert Message.objects.filter(member=member).count() == 1


def test_back_office_withdraws_every_consent_with_who_and_why(client, staff):
    member = MemberFactory()
    for channel in ConsentChannel.values:
        ConsentFactory(member=member, channel=channel, granted=True)
    user = staff(CUSTOMER_SERVICE)
    client.force_login(user)
    url = reverse("admin:members_member_withdraw_consents", args=[member.pk])
    assert client.post(url, {"reason": "Phoned the hotline"}).status_code == 302
    assert not Consent.objects.filter(member=member, granted=True).exists()
    latest = Consent.history.filter(member_id=member.pk, granted=False)
    assert latest.count() == len(ConsentChannel.values) and {(h.history_user, h.history_change_reason) for h in latest} == {
        (user, "Phoned the hotline")
    }
