"""Object-level permissions across the API, and inputs that can never set tier, balance, status or staff flags."""

import pytest

from apps.benefits import services as benefit_services
from apps.core.models import ApiScope
from apps.core.roles import OPERATIONS_MANAGER
from apps.events import services as event_services
from apps.members import services as member_services
from apps.members.models import Member, MemberStatus
from tests.benefits.factories import BenefitFactory
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_member():
    other = MemberFactory()
    member_services.points_earn(member=other, amount=700, reason="Purchase")
    benefit_services.grant_issue(benefit=BenefitFactory(), member=other, source="staff")
    event_services.registration_create(event=EventFactory(), member=other)
    return other


def test_member_lists_hold_only_the_callers_own_rows_whatever_the_filters(member_client, other_member):
    api, _me = member_client()
    assert api.get("/api/v1/me/points/ledger/").json()["results"] == []
    assert api.get("/api/v1/me/benefits/", {"member": other_member.pk}).json()["results"] == []
    assert api.get("/api/v1/me/registrations/", {"member": other_member.pk}).json()["results"] == []
    assert api.get("/api/v1/me/").json()["id"] != other_member.pk


def test_another_members_objects_are_404_to_a_member(member_client, other_member):
    api, _me = member_client()
    registration = other_member.event_registrations.get()
    grant = other_member.grants.get()
    assert api.get(f"/api/v1/me/registrations/{registration.pk}/").status_code == 404
    assert api.post(f"/api/v1/me/registrations/{registration.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="x").status_code == 404
    # trusted-system endpoints are not a member's: refused before any lookup
    for path in (f"/api/v1/members/{other_member.pk}/", f"/api/v1/members/{other_member.pk}/points/ledger/"):
        assert api.get(path).status_code == 403
    assert api.get(f"/api/v1/members/{other_member.pk}/data-export/").status_code == 403
    redeem = api.post("/api/v1/grants/redeem/", {"code": grant.code, "channel": "app"}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    assert redeem.status_code == 403


def test_staff_session_is_not_a_member(api, staff):
    api.force_login(staff(OPERATIONS_MANAGER))
    assert api.get("/api/v1/me/").status_code == 403
    assert api.get("/api/v1/me/data-export/").status_code == 403


def test_scopes_limit_a_trusted_system_to_its_job(trusted_client, other_member):
    pos, _client = trusted_client([ApiScope.BENEFITS_REDEEM])
    assert pos.get(f"/api/v1/members/{other_member.pk}/").status_code == 403
    assert pos.post(f"/api/v1/members/{other_member.pk}/points/earn/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 403
    assert pos.post(f"/api/v1/members/{other_member.pk}/anonymise/", {"reason": "x"}, format="json").status_code == 403


PROTECTED = {
    "tier": "vip",
    "tier_id": 4,
    "growth_value": 999_999,
    "points_balance": 999_999,
    "balance": 999_999,
    "status": "active",
    "anonymised_at": None,
    "is_staff": True,
    "is_superuser": True,
    "id": 1,
}


def test_enrolment_and_updates_never_set_tier_balance_status_or_staff_flags(trusted_client):
    api, _client = trusted_client()
    created = api.post("/api/v1/members/", {"name": "新会员", "phone": "13800001111", **PROTECTED}, format="json", HTTP_IDEMPOTENCY_KEY="e")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["tier"]["code"], body["growth_value"], body["points_balance"]) == (tier("basic").code, 0, 0)
    member = Member.objects.get(pk=body["id"])
    member_services.member_freeze(member=member, reason="Fraud check")
    patched = api.patch(f"/api/v1/members/{member.pk}/", {"city": "北京", **PROTECTED}, format="json")
    assert patched.status_code == 200
    member.refresh_from_db()
    assert (member.city, member.status, member.tier.code, member.growth_value) == ("北京", MemberStatus.FROZEN, tier("basic").code, 0)
    assert member.points_account.balance == 0


def test_member_cannot_set_tier_balance_status_or_phone_on_themself(member_client):
    api, member = member_client(MemberFactory(phone="+8613800002222"))
    response = api.patch("/api/v1/me/", {"name": "改名", "phone": "+8613999999999", **PROTECTED}, format="json")
    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.name, member.phone, member.tier.code, member.status) == ("改名", "+8613800002222", tier("basic").code, "active")
    assert member.points_account.balance == 0
