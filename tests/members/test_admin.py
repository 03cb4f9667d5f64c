from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from apps.analytics.models import RfmScore
from apps.analytics.services import rfm_score_members
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import AdjustmentState, Member, MemberStatus, PointsAccount, PointsAdjustment, PointsEntry
from tests.analytics.factories import ActivityEventFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

ROLES = [OPERATIONS_MANAGER, CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST]


@pytest.fixture
def member():
    member = MemberFactory(name="李娜", phone="+8613800138000", email="li.na@example.com")
    services.points_earn(member=member, amount=800, reason="Purchase")
    return member


@pytest.mark.parametrize("role", ROLES)
def test_pages_load_for_each_role(client, staff, role, member):
    client.force_login(staff(role))
    pages = {
        reverse("admin:index"): 200,
        reverse("admin:members_member_changelist"): 200,
        reverse("admin:members_member_changelist") + "?q=138-0013-8000": 200,
        reverse("admin:members_member_change", args=[member.pk]): 200,
        reverse("admin:members_tier_changelist"): 200,
        # campaign managers target segments; they have no business in members' ledgers
        reverse("admin:members_pointsentry_changelist"): 403 if role == CAMPAIGN_MANAGER else 200,
    }
    for path, expected in pages.items():
        assert client.get(path).status_code == expected, (role, path)


def test_phone_and_email_masked_without_pii_right(client, staff, member):
    client.force_login(staff(ANALYST))
    listing = client.get(reverse("admin:members_member_changelist")).content.decode()
    assert "+86138****8000" in listing and "+8613800138000" not in listing
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "l***@example.com" in page and "li.na@example.com" not in page


def test_full_phone_for_customer_service(client, staff, member):
    client.force_login(staff(CUSTOMER_SERVICE))
    assert "+8613800138000" in client.get(reverse("admin:members_member_changelist")).content.decode()


def test_search_by_phone_in_any_format(client, staff, member):
    MemberFactory(name="Other")
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.get(reverse("admin:members_member_changelist"), {"q": "+86 138 0013 8000"})
    assert list(response.context["cl"].result_list) == [member]


def test_member_page_shows_ledger_newest_first_and_tier_history(client, staff, member):
    services.points_spend(member=member, amount=300, reason="Points mall order")
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert page.index("Points mall order") < page.index("Purchase")
    assert "Enrolment" in page


def test_adjust_points_within_limit(client, staff, member):
    agent = staff(CUSTOMER_SERVICE)
    client.force_login(agent)
    path = reverse("admin:members_member_adjust_points", args=[member.pk])
    assert client.get(path).status_code == 200
    response = client.post(path, {"amount": "200", "reason": "Goodwill"})
    assert response.status_code == 302
    entry = PointsEntry.objects.filter(account__member=member).first()
    assert (entry.amount, entry.actor, entry.reason) == (200, agent, "Goodwill")


def test_a_large_adjustment_asks_for_confirmation_with_the_new_balance(client, staff, member, settings):
    settings.USEROPS = {**settings.USEROPS, "ADJUST_CONFIRM_ABOVE": 200}
    client.force_login(staff(OPERATIONS_MANAGER))
    path = reverse("admin:members_member_adjust_points", args=[member.pk])
    balance = PointsAccount.objects.get(member=member).balance
    asked = client.post(path, {"amount": "1000", "reason": "Migration fix"})
    assert asked.status_code == 200
    assert f"The balance goes from {balance} to {balance + 1000}." in asked.content.decode()
    assert PointsEntry.objects.filter(account__member=member).count() == 1
    changed_mind = client.post(path, {"amount": "2000", "reason": "Migration fix", "confirmed_amount": "1000"})
    assert f"from {balance} to {balance + 2000}" in changed_mind.content.decode()
    assert client.post(path, {"amount": "2000", "reason": "Migration fix", "confirmed_amount": "2000"}).status_code == 302
    assert PointsAccount.objects.get(member=member).balance == balance + 2000


def test_above_the_daily_limit_waits_for_another_persons_approval(client, staff, member):
    agent, manager = staff(CUSTOMER_SERVICE), staff(OPERATIONS_MANAGER)
    client.force_login(agent)
    path = reverse("admin:members_member_adjust_points", args=[member.pk])
    response = client.post(path, {"amount": "600", "reason": "Goodwill", "confirmed_amount": "600"}, follow=True)
    assert "waits for another person&#x27;s approval" in response.content.decode()
    adjustment = PointsAdjustment.objects.get(member=member)
    assert adjustment.state == AdjustmentState.PENDING and adjustment.entry is None
    assert client.post(reverse("admin:members_pointsadjustment_approve", args=[adjustment.pk]), {"note": ""}).status_code == 403
    client.force_login(manager)
    pending = client.get(reverse("admin:members_pointsadjustment_changelist") + "?state__exact=pending").content.decode()
    assert "Goodwill" in pending
    approve = reverse("admin:members_pointsadjustment_approve", args=[adjustment.pk])
    assert approve in client.get(reverse("admin:members_pointsadjustment_change", args=[adjustment.pk])).content.decode()
    done = client.post(approve, {"note": "Checked the ticket"}, follow=True)
    assert "Approved: +600 points" in done.content.decode()
    adjustment.refresh_from_db()
    assert (adjustment.state, adjustment.decided_by, adjustment.entry.amount) == (AdjustmentState.APPROVED, manager, 600)
    again = client.post(approve, {"note": ""})
    assert "no longer waiting" in again.content.decode()


def test_adjust_requires_reason(client, staff, member):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(reverse("admin:members_member_adjust_points", args=[member.pk]), {"amount": "10", "reason": ""})
    assert response.status_code == 200
    assert PointsEntry.objects.filter(account__member=member).count() == 1


def test_analyst_cannot_adjust_or_freeze(client, staff, member):
    client.force_login(staff(ANALYST))
    assert client.get(reverse("admin:members_member_adjust_points", args=[member.pk])).status_code == 403
    assert client.post(reverse("admin:members_member_freeze", args=[member.pk]), {"reason": "x"}).status_code == 403


def test_freeze_and_close_from_member_page(client, staff, member):
    client.force_login(staff(OPERATIONS_MANAGER))
    client.post(reverse("admin:members_member_freeze", args=[member.pk]), {"reason": "Fraud check"})
    member.refresh_from_db()
    assert member.status == MemberStatus.FROZEN and member.status_reason == "Fraud check"
    response = client.post(reverse("admin:members_member_freeze", args=[member.pk]), {"reason": "again"})
    assert "not possible" in response.content.decode()  # the page was open before someone else froze the member
    client.post(reverse("admin:members_member_close", args=[member.pk]), {"reason": "Member asked"})
    member.refresh_from_db()
    assert member.status == MemberStatus.CLOSED


def test_create_and_edit_member_go_through_services(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    data = {
        "name": "赵敏",
        "phone": "139-0000-1111",
        "external_id": "",
        "email": "",
        "gender": "female",
        "birthday": "",
        "city": "北京",
        "source_channel": "store",
    }
    response = client.post(reverse("admin:members_member_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    created = MemberFactory._meta.model.objects.get(phone="+8613900001111")
    assert created.points_account.balance == 0 and created.tier_changes.count() == 1
    response = client.post(reverse("admin:members_member_add"), {**data, "name": "Dup"})
    assert response.status_code == 200 and "already has this mobile phone" in response.content.decode()


def test_ledger_is_read_only_in_back_office(client, staff, member):
    client.force_login(staff(OPERATIONS_MANAGER))
    entry = PointsEntry.objects.filter(account__member=member).first()
    assert client.get(reverse("admin:members_pointsentry_add")).status_code == 403
    assert client.post(reverse("admin:members_pointsentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403


def test_dashboard_shows_programme_figures(client, staff, member):
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:index")).content.decode()
    assert "Points outstanding" in page and "800" in page


def profile_of(client, member) -> str:
    html = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    start = html.index('data-testid="member-profile"')
    return html[start : html.index("</section>", start)]


def test_member_page_opens_on_a_profile_header(client, staff):
    member = services.member_enrol(
        name="李娜",
        phone="+8613800138000",
        email="li.na@example.com",
        city="上海",
        tags=["车主", "高价值"],
        consents={"sms": True, "email": False},
    )
    services.points_earn(member=member, amount=1200, reason="Purchase")
    services.growth_add(member=member, amount=400, reason="Purchases")
    occurred = timezone.now() - timedelta(days=3)
    ActivityEventFactory(member=member, kind="purchase", amount=Decimal("99.00"), occurred_at=occurred)
    rfm_score_members()
    client.force_login(staff(OPERATIONS_MANAGER))
    header = profile_of(client, member)
    for fact in ("李娜", "Basic", "Active", "1,200", "400", "600 more to Silver (1,000)", "车主", "高价值", "+8613800138000"):
        assert fact in header, fact
    assert '<progress class="userops-profile-progress" max="100" value="40">' in header
    assert '<li class="yes">✓ SMS</li>' in header and '<li class="no">✗ Email</li>' in header and "✗ App push" in header
    assert "RFM segment" in header and RfmScore.objects.get(member=member).get_segment_display() in header
    assert "Last activity" in header and date_format(timezone.localtime(occurred), "SHORT_DATETIME_FORMAT") in header
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    edit = page.index("Edit profile")
    assert page.rfind("<details>", 0, edit) > page.index("</section>"), "the edit form is folded below the profile"
    assert page.index("Tier history") > edit and "Benefits (权益)" in page and "Events" in page


def test_member_page_offers_freeze_or_unfreeze_never_both_and_explains_closing(client, staff, member):
    client.force_login(staff(OPERATIONS_MANAGER))
    freeze = reverse("admin:members_member_freeze", args=[member.pk])
    unfreeze = reverse("admin:members_member_unfreeze", args=[member.pk])
    close = reverse("admin:members_member_close", args=[member.pk])
    header = profile_of(client, member)
    assert freeze in header and unfreeze not in header and close in header
    assert "Close membership" in header and "It cannot be undone." in header
    services.member_freeze(member=member, reason="Fraud check")
    header = profile_of(client, member)
    assert freeze not in header and unfreeze in header and close in header and "Reason: Fraud check" in header
    services.member_close(member=member, reason="Member asked")
    header = profile_of(client, member)
    assert freeze not in header and unfreeze not in header and close not in header and "Closed" in header
    explained = client.get(close).content.decode()
    assert 'data-testid="action-explanation"' in explained and "It cannot be undone." in explained


@pytest.mark.parametrize(
    ("role", "full_phone", "can_edit", "actions"),
    [
        (OPERATIONS_MANAGER, True, True, {"Adjust points", "Freeze", "Close membership", "Export personal data", "Anonymise"}),
        (CUSTOMER_SERVICE, True, True, {"Adjust points", "Freeze", "Close membership", "Export personal data"}),
        (CAMPAIGN_MANAGER, False, False, set()),
        (ANALYST, False, False, set()),
        (AUDITOR, False, False, set()),
    ],
)
def test_member_page_per_role(client, staff, member, role, full_phone, can_edit, actions):
    client.force_login(staff(role))
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    header = profile_of(client, member)
    assert ("+8613800138000" in page) is full_phone
    if not full_phone:
        assert "+86138****8000" in header and "l***@example.com" in header and "li.na@example.com" not in page
    assert ("Edit profile" in page) is can_edit
    every = {"Adjust points", "Freeze", "Unfreeze", "Close membership", "Withdraw all consent", "Export personal data", "Anonymise"}
    offered = {title for title in every if f">{title}</a>" in header}
    assert actions <= offered and not offered & (every - actions - {"Withdraw all consent"})


def test_member_action_pages_lead_back_to_the_member_by_name(client, staff, member):
    client.force_login(staff(CUSTOMER_SERVICE))
    page = client.get(reverse("admin:members_member_adjust_points", args=[member.pk])).content.decode()
    change_url = reverse("admin:members_member_change", args=[member.pk])
    breadcrumb = page.index(f'<a href="{change_url}" class="align-middle')  # the header's trail: Members › Members › 李娜
    assert page[breadcrumb : page.index("</a", breadcrumb)].split(">", 1)[1].strip() == "李娜"


def test_a_member_page_of_an_unknown_id_says_it_does_not_exist(client, staff):
    client.force_login(staff(is_superuser=True))
    response = client.get(reverse("admin:members_member_change", args=["999999999"]), follow=True)
    assert response.status_code == 200
    assert any("999999999" in str(message) for message in response.context["messages"])


@pytest.mark.parametrize("object_id", ["12/no-such-page", "abc"])
def test_a_member_page_of_a_mistyped_id_is_not_found(client, staff, object_id):
    client.force_login(staff(is_superuser=True))
    response = client.get(reverse("admin:members_member_change", args=[object_id]))
    assert response.status_code == 404 and "Page not found (404)" in response.content.decode()


def test_the_city_filter_finds_cities_by_their_beginning_in_any_case(client, staff):
    shanghai, shanghai_city, latin = MemberFactory(city="上海"), MemberFactory(city="上海市"), MemberFactory(city="Shanghai")
    MemberFactory(city="北京")
    MemberFactory(city="珠海")
    client.force_login(staff(ANALYST))

    def cities(value: str) -> set:
        response = client.get(reverse("admin:members_member_changelist"), {"city__istartswith": value})
        assert response.status_code == 200
        return set(response.context["cl"].result_list)

    assert cities("上海") == {shanghai, shanghai_city}
    assert cities("shang") == {latin}
    assert cities("海") == set(), "a city is found by its beginning, not by a character inside it"
    assert cities("") == set(Member.objects.all())


def test_the_city_filter_refuses_the_former_contains_parameter(client, staff):
    client.force_login(staff(ANALYST))
    response = client.get(reverse("admin:members_member_changelist"), {"city__icontains": "上海"})
    assert response.status_code == 400
