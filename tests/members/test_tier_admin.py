"""Back office for growth adjustments, tier assignments, tier conditions and the what-if page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import AdjustmentState, GrowthAdjustment, GrowthEntry, Tier, TierAssignment, TierChange
from tests.analytics.factories import purchase
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return MemberFactory(name="王芳")


@pytest.fixture
def ambassador():
    return Tier.objects.create(
        code="ambassador", name="Brand ambassador", name_zh_hans="品牌大使", rank=5, threshold=0, invitation_only=True
    )


def test_growth_adjust_page_applies_within_the_limit(client, staff, member):
    agent = staff(CUSTOMER_SERVICE)
    client.force_login(agent)
    path = reverse("admin:members_member_adjust_growth", args=[member.pk])
    assert client.get(path).status_code == 200
    response = client.post(path, {"amount": "150", "reason": "Missed dealer purchase"}, follow=True)
    assert "Growth value adjusted by +150" in response.content.decode()
    entry = GrowthEntry.objects.get(member=member)
    assert (entry.amount, entry.actor, entry.reason) == (150, agent, "Missed dealer purchase")


def test_growth_adjust_page_refuses_bad_input_on_its_field(client, staff, member):
    client.force_login(staff(OPERATIONS_MANAGER))
    path = reverse("admin:members_member_adjust_growth", args=[member.pk])
    for data in ({"amount": "0", "reason": "x"}, {"amount": "abc", "reason": "x"}, {"amount": "10", "reason": ""}):
        assert client.post(path, data).status_code == 200
    refused = client.post(path, {"amount": "-50", "reason": "Refund"})
    assert refused.status_code == 200
    assert "cannot be deducted" in refused.content.decode()
    assert not GrowthEntry.objects.exists() and not GrowthAdjustment.objects.exists()


def test_growth_adjustment_above_the_limit_waits_for_approval(client, staff, member, settings):
    settings.USEROPS = {**settings.USEROPS, "CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT": 200}
    agent, manager = staff(CUSTOMER_SERVICE), staff(OPERATIONS_MANAGER)
    client.force_login(agent)
    response = client.post(
        reverse("admin:members_member_adjust_growth", args=[member.pk]), {"amount": "1200", "reason": "Event"}, follow=True
    )
    assert "waits for another person" in response.content.decode()
    adjustment = GrowthAdjustment.objects.get(member=member)
    approve = reverse("admin:members_growthadjustment_approve", args=[adjustment.pk])
    assert client.post(approve, {"note": ""}).status_code == 403
    client.force_login(manager)
    assert "Event" in client.get(reverse("admin:members_growthadjustment_changelist") + "?state__exact=pending").content.decode()
    done = client.post(approve, {"note": "Checked"}, follow=True)
    assert "Approved: +1200 growth value" in done.content.decode()
    adjustment.refresh_from_db()
    assert adjustment.state == AdjustmentState.APPROVED
    member.refresh_from_db()
    assert member.tier.code == "silver"


def test_reject_page_needs_a_note(client, staff, member, settings):
    settings.USEROPS = {**settings.USEROPS, "CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT": 0}
    pending = services.growth_adjust(member=member, amount=10, reason="x", actor=staff(CUSTOMER_SERVICE))
    client.force_login(staff(OPERATIONS_MANAGER))
    reject = reverse("admin:members_growthadjustment_reject", args=[pending.pk])
    assert client.post(reject, {"note": ""}).status_code == 200
    pending.refresh_from_db()
    assert pending.state == AdjustmentState.PENDING
    client.post(reject, {"note": "No evidence"})
    pending.refresh_from_db()
    assert pending.state == AdjustmentState.REJECTED


def test_assign_tier_page(client, staff, member, ambassador):
    manager = staff(OPERATIONS_MANAGER)
    client.force_login(manager)
    path = reverse("admin:members_member_assign_tier", args=[member.pk])
    page = client.get(path).content.decode()
    assert "Brand ambassador" in page
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert client.post(path, {"tier": ambassador.pk, "until": past, "reason": "Founder"}).status_code == 200
    assert not TierAssignment.objects.exists()
    response = client.post(path, {"tier": ambassador.pk, "until": until, "reason": "Club founder"}, follow=True)
    assert "is on Brand ambassador until" in response.content.decode()
    member.refresh_from_db()
    assert member.tier == ambassador
    assert timezone.localtime(member.tier_assigned_until).date() == timezone.localdate() + timedelta(days=31)
    member_page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "Club founder" in member_page
    listing = client.get(reverse("admin:members_tierassignment_changelist")).content.decode()
    assert "Club founder" in listing


@pytest.mark.parametrize("role", [CUSTOMER_SERVICE, ANALYST, CAMPAIGN_MANAGER, AUDITOR])
def test_only_those_with_the_right_assign_tiers_or_adjust_growth(client, staff, member, role):
    client.force_login(staff(role))
    assert client.get(reverse("admin:members_member_assign_tier", args=[member.pk])).status_code == 403
    adjust = client.get(reverse("admin:members_member_adjust_growth", args=[member.pk])).status_code
    assert adjust == (200 if role == CUSTOMER_SERVICE else 403)


def test_tier_form_saves_conditions_and_refuses_on_the_field(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    gold = tier("gold")
    path = reverse("admin:members_tier_change", args=[gold.pk])
    data = {
        "code": "gold",
        "name_en": "Gold",
        "name_zh_hans": "金卡会员",
        "description_en": "",
        "description_zh_hans": "",
        "rank": "2",
        "points_multiplier": "1.50",
        "threshold": "5000",
        "min_purchases": "2",
        "min_spend": "3000",
        "rfm_segments": ["champions", "loyal"],
    }
    assert client.get(path).status_code == 200
    assert client.post(path, data).status_code == 302
    gold.refresh_from_db()
    assert (gold.min_purchases, gold.min_spend, gold.rfm_segments) == (2, Decimal("3000.00"), ["champions", "loyal"])
    refused = client.post(path, {**data, "threshold": "100"})
    assert refused.status_code == 200 and "Thresholds must rise with rank" in refused.content.decode()
    listing = client.get(reverse("admin:members_tier_changelist")).content.decode()
    assert "spend ≥ ¥3000.00" in listing


def test_what_if_page_get_and_preview_change_nothing(client, staff):
    members = [MemberFactory() for _ in range(3)]
    for member in members:
        services.growth_add(member=member, amount=6000, reason="Purchase")
    purchase(members[0], timezone.now() - timedelta(days=1), "9000.00")
    client.force_login(staff(ANALYST))
    path = reverse("admin:members_tier_what_if")
    before = list(Tier.objects.values())
    page = client.get(path)
    assert page.status_code == 200
    assert [row["count"]["now"] for row in page.context["rows"]] == [0, 0, 3, 0]
    form = {f"threshold_{t.pk}": str(t.threshold) for t in Tier.objects.all()}
    form[f"min_spend_{tier('gold').pk}"] = "8000"
    preview = client.post(path, {**form, "preview": ""})
    rows = {row["name"]: row["count"] for row in preview.context["rows"]}
    assert rows["Gold"] == {"now": 3, "after": 3, "qualified": 1}
    assert rows["Silver"]["qualified"] == 2
    assert list(Tier.objects.values()) == before
    assert not TierChange.objects.exclude(kind__in=["initial", "promotion"]).exists()
    # An analyst may look but not save.
    assert client.post(path, {**form, "save": "1"}).status_code == 403
    assert list(Tier.objects.values()) == before


def test_what_if_save_goes_through_tier_save(client, staff):
    manager = staff(OPERATIONS_MANAGER)
    client.force_login(manager)
    path = reverse("admin:members_tier_what_if")
    form = {f"threshold_{t.pk}": str(t.threshold) for t in Tier.objects.all()}
    bad = client.post(path, {**form, f"threshold_{tier('gold').pk}": "500", "save": "1"})
    assert bad.status_code == 200 and "Thresholds must rise with rank" in bad.content.decode()
    assert tier("gold").threshold == 5000
    invalid = client.post(path, {**form, f"min_spend_{tier('gold').pk}": "-5", "save": "1"})
    assert invalid.status_code == 200 and tier("gold").min_spend is None
    saved = client.post(path, {**form, f"min_spend_{tier('gold').pk}": "5000", "save": "1"}, follow=True)
    assert "Thresholds saved for 1 tier(s)" in saved.content.decode()
    assert tier("gold").min_spend == Decimal("5000")
    assert tier("gold").history.first().history_user == manager


def test_what_if_page_in_chinese(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER, language="zh-hans"))
    page = client.get(reverse("admin:members_tier_what_if")).content.decode()
    assert "保存这些门槛" in page and "金卡会员" in page and "显示效果" in page


def test_the_tier_pages_leave_the_admin_passing_djangos_checks(admin_client):
    """Opening the tier form once must not change the admin's declaration (fields beside fieldsets is refused)."""
    from django.core.management import call_command

    assert admin_client.get("/admin/members/tier/add/").status_code == 200
    call_command("check")
