from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.benefits import services
from apps.benefits.models import Grant, GrantSource, GrantState
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import services as member_services
from apps.members.models import PointsAccount
from tests.benefits.factories import BenefitFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


@pytest.fixture
def grant():
    return services.grant_issue(benefit=BenefitFactory(points_price=500), member=MemberFactory(), source=GrantSource.STAFF)


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST])
def test_pages_load_for_each_role(client, staff, role, grant):
    client.force_login(staff(role))
    for path in (
        reverse("admin:benefits_benefit_changelist"),
        reverse("admin:benefits_benefit_change", args=[grant.benefit_id]),
        reverse("admin:benefits_grant_changelist"),
        reverse("admin:benefits_grant_change", args=[grant.pk]),
        reverse("admin:members_member_change", args=[grant.member_id]),
    ):
        assert client.get(path).status_code == 200, (role, path)


def test_benefit_page_shows_results(client, staff, grant):
    services.grant_redeem(code=grant.code, channel="pos")
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:benefits_benefit_change", args=[grant.benefit_id])).content.decode()
    assert "100.0%" in page and "¥30.00" in page


def test_grant_to_members_by_phone_and_report_refusals(client, staff):
    benefit = BenefitFactory(per_member_lifetime_limit=1)
    first = MemberFactory(phone="+8613800001111")
    second = MemberFactory(external_id="CRM-2")
    services.grant_issue(benefit=benefit, member=second, source=GrantSource.STAFF)
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:benefits_benefit_grant_to_members", args=[benefit.pk])
    response = client.post(url, {"members": "138-0000-1111\nCRM-2", "reason": "Service recovery"}, follow=True)
    text = response.content.decode()
    assert "1 members received" in text and "as many of this benefit" in text
    assert Grant.objects.get(member=first).source_ref == "Service recovery"
    missing = client.post(url, {"members": "nobody", "reason": "x"})
    assert "No member found for: nobody" in missing.content.decode()


def test_revoke_needs_reason_and_redeem_from_back_office(client, staff, grant):
    client.force_login(staff(OPERATIONS_MANAGER))
    revoke = reverse("admin:benefits_grant_revoke", args=[grant.pk])
    assert revoke in client.get(reverse("admin:benefits_grant_change", args=[grant.pk])).content.decode()
    client.post(revoke, {"reason": ""})
    grant.refresh_from_db()
    assert grant.state == GrantState.ISSUED
    client.post(reverse("admin:benefits_grant_redeem", args=[grant.pk]), {"channel": "staff", "order_ref": "DESK-1"})
    grant.refresh_from_db()
    assert grant.state == GrantState.REDEEMED
    page = client.get(reverse("admin:benefits_grant_change", args=[grant.pk])).content.decode()
    assert revoke not in page and reverse("admin:benefits_grant_redeem", args=[grant.pk]) not in page
    late = client.post(revoke, {"reason": "late"})
    assert late.status_code == 200 and "already redeemed on" in late.content.decode()
    grant.refresh_from_db()
    assert grant.state == GrantState.REDEEMED


def test_redeem_link_of_a_redeemed_grant_says_when_in_the_operators_time_zone(client, staff, grant):
    services.grant_redeem(code=grant.code, channel="pos")
    Grant.objects.filter(pk=grant.pk).update(closed_at=datetime(2026, 3, 1, 2, 5, tzinfo=UTC))
    client.force_login(staff(CUSTOMER_SERVICE))
    response = client.get(reverse("admin:benefits_grant_redeem", args=[grant.pk]))
    assert response.status_code == 200
    assert "This grant was already redeemed on 2026-03-01 at 10:05." in response.content.decode()
    assert 'name="confirm"' not in response.content.decode()


def test_redeem_link_of_a_revoked_or_expired_grant_says_what_happened(client, staff, grant):
    services.grant_revoke(grant=grant, reason="Duplicate", actor=staff(OPERATIONS_MANAGER))
    client.force_login(staff(CUSTOMER_SERVICE))
    page = client.get(reverse("admin:benefits_grant_redeem", args=[grant.pk])).content.decode()
    assert "This grant was revoked on" in page and "Duplicate" in page
    expired = services.grant_issue(benefit=BenefitFactory(), member=MemberFactory(), source=GrantSource.STAFF)
    Grant.objects.filter(pk=expired.pk).update(
        valid_until=datetime(2026, 1, 31, 16, 0, tzinfo=UTC), valid_from=datetime(2026, 1, 1, tzinfo=UTC)
    )
    posted = client.post(reverse("admin:benefits_grant_redeem", args=[expired.pk]), {"channel": "staff", "order_ref": ""})
    assert "This grant expired on 2026-02-01 at 00:00." in posted.content.decode()
    assert Grant.objects.get(pk=expired.pk).state == GrantState.ISSUED


def test_analyst_cannot_revoke_or_grant(client, staff, grant):
    client.force_login(staff(ANALYST))
    assert client.post(reverse("admin:benefits_grant_revoke", args=[grant.pk]), {"reason": "x"}).status_code == 403
    assert client.get(reverse("admin:benefits_benefit_grant_to_members", args=[grant.benefit_id])).status_code == 403


def test_benefit_form_rejects_incoherent_terms(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    data = {
        "name_en": "10% off",
        "name_zh_hans": "九折",
        "kind": "percent_discount",
        "face_value": "0",
        "unit_cost": "5",
        "discount_percent": "10",
        "validity_days": "30",
        "limit_period": "month",
        "status": "active",
        "tier_benefits-TOTAL_FORMS": "0",
        "tier_benefits-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("admin:benefits_benefit_add"), data)
    assert response.status_code == 200 and "needs a percentage and a cap" in response.content.decode()
    response = client.post(reverse("admin:benefits_benefit_add"), {**data, "discount_cap": "50"})
    assert response.status_code == 302


def test_member_page_lists_grants_and_links_to_all_of_them(client, staff, grant):
    client.force_login(staff(CUSTOMER_SERVICE))
    page = client.get(reverse("admin:members_member_change", args=[grant.member_id])).content.decode()
    assert grant.display_code in page
    full_list = client.get(reverse("admin:benefits_grant_changelist") + f"?member__id__exact={grant.member_id}")
    assert full_list.status_code == 200 and list(full_list.context["cl"].result_list) == [grant]
    ledger = client.get(reverse("admin:members_pointsentry_changelist") + f"?account__member__id__exact={grant.member_id}")
    assert ledger.status_code == 200


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST])
def test_points_mall_page_lists_what_is_on_sale_with_price_stock_validity_and_value(client, staff, role):
    BenefitFactory(name="Free car wash", points_price=500, face_value=Decimal("80.00"), total_stock=20, validity_days=90)
    BenefitFactory(name="Not for points")
    BenefitFactory(name="Retired", points_price=100, status="paused")
    client.force_login(staff(role))
    page = client.get(reverse("admin:benefits_benefit_mall")).content.decode()
    offers = page[page.index('data-testid="mall-offers"') :]
    assert "Free car wash" in offers and "Not for points" not in offers and "Retired" not in offers
    for shown in (">500<", "80.00", "¥16.00 per 100 points", ">20<", "90 days from the exchange", "All tiers"):
        assert shown in offers, shown
    assert ('name="benefit"' in page) is False  # no member chosen: nothing to exchange
    assert ("member-search" in page) is (role == OPERATIONS_MANAGER)


def test_staff_exchange_points_in_the_mall_for_a_member_with_the_api_rules(client, staff):
    member = MemberFactory(name="李娜", phone="+8613800138000")
    member_services.points_earn(member=member, amount=1200, reason="Purchase")
    wash = BenefitFactory(name="Free car wash", points_price=500, total_stock=1)
    umbrella = BenefitFactory(name="Umbrella", points_price=2000)
    gold_only = BenefitFactory(name="Lounge pass", points_price=100)
    gold_only.eligible_tiers.set([tier("gold")])
    client.force_login(staff(OPERATIONS_MANAGER))
    member_page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    mall = reverse("admin:benefits_benefit_mall") + f"?member={member.pk}"
    assert f'href="{mall}"' in member_page and "Exchange points in the mall" in member_page
    found = client.get(reverse("admin:benefits_benefit_mall"), {"q": "138 0013 8000"}).content.decode()
    assert f'href="?member={member.pk}"' in found
    page = client.get(mall).content.decode()
    assert "1,200 points to spend" in page and "Lounge pass" not in page and "Not enough points" in page  # the umbrella
    done = client.post(mall, {"benefit": wash.pk}, follow=True).content.decode()
    grant = Grant.objects.get(member=member, benefit=wash)
    assert f"李娜 exchanged 500 points for Free car wash; grant code {grant.display_code}." in done
    assert grant.source == GrantSource.POINTS_MALL and PointsAccount.objects.get(member=member).balance == 700
    sold_out = client.post(mall, {"benefit": wash.pk}).content.decode()
    assert 'data-testid="exchange-error"' in sold_out and "out of stock" in sold_out
    too_dear = client.post(mall, {"benefit": umbrella.pk}).content.decode()
    assert 'data-testid="exchange-error"' in too_dear
    assert PointsAccount.objects.get(member=member).balance == 700 and Grant.objects.filter(member=member).count() == 1


@pytest.mark.parametrize("role", [CUSTOMER_SERVICE, ANALYST])
def test_exchanging_for_a_member_needs_the_grant_right(client, staff, role):
    member = MemberFactory()
    member_services.points_earn(member=member, amount=1000, reason="Purchase")
    wash = BenefitFactory(points_price=500)
    client.force_login(staff(role))
    mall = reverse("admin:benefits_benefit_mall") + f"?member={member.pk}"
    assert 'name="benefit"' not in client.get(mall).content.decode()
    assert client.post(mall, {"benefit": wash.pk}).status_code == 403
    assert "Exchange points in the mall" not in client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert not Grant.objects.exists()
