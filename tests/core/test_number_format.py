"""Numbers grouped by thousands and one date format, in English and in Chinese; ids, years and dates untouched."""

from datetime import date
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from apps.members import services
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_counts_and_amounts_are_grouped_and_nothing_else(language):
    template = Template(
        "{% load numbers %}{{ n|grouped }} {{ money|grouped }} {{ day|grouped }} {{ code|grouped }} {{ day|date:'SHORT_DATE_FORMAT' }}"
    )
    context = Context({"n": 105232149, "money": Decimal("1234567.50"), "day": date(2026, 12, 1), "code": "2026"})
    with translation.override(language):
        assert template.render(context) == "105,232,149 1,234,567.50 2026-12-01 2026 2026-12-01"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_member_page_ledger_groups_thousands(client, staff, language):
    member = MemberFactory(phone="+8613800138000")
    services.points_earn(member=member, amount=12500, reason="订单 20261125001")
    client.force_login(staff(is_superuser=True))
    client.cookies["django_language"] = language
    page = client.get(reverse("admin:members_member_change", args=[member.pk]), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "+12,500" in page and "12,500" in page
    assert "+86,138" not in page and "8,613,800" not in page  # the phone is never grouped


def changelist(client, url_name: str, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(reverse(url_name), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_member_list_groups_points_but_not_phones(client, staff, language):
    member = MemberFactory(phone="+8613800138000")
    services.points_earn(member=member, amount=1234567, reason="订单 20261125001")
    client.force_login(staff(is_superuser=True))
    page = changelist(client, "admin:members_member_changelist", language)
    assert "1,234,567" in page
    assert "+8613800138000" in page and "8,613,800" not in page


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_benefit_list_groups_stock_issued_and_money(client, staff, language):
    from tests.benefits.factories import BenefitFactory

    BenefitFactory(face_value=Decimal("12345.00"), unit_cost=Decimal("2500.50"), total_stock=1000000, issued_count=25000)
    client.force_login(staff(is_superuser=True))
    page = changelist(client, "admin:benefits_benefit_changelist", language)
    assert all(figure in page for figure in ("12,345.00", "2,500.50", "975,000", "25,000")), "face value, cost, stock, issued"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_event_list_groups_seats(client, staff, language):
    from tests.events.factories import EventFactory

    EventFactory(capacity=12000, seats_taken=10500)
    client.force_login(staff(is_superuser=True))
    page = changelist(client, "admin:events_event_changelist", language)
    assert "12,000" in page and "10,500" in page


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_campaign_run_list_groups_counts(client, staff, language):
    from apps.campaigns.models import CampaignRun
    from tests.campaigns.factories import CampaignFactory

    CampaignRun.objects.create(campaign=CampaignFactory(), targeted=123456, acted=120000)
    client.force_login(staff(is_superuser=True))
    page = changelist(client, "admin:campaigns_campaignrun_changelist", language)
    assert "123,456" in page and "120,000" in page


def test_ids_keys_and_texts_keep_their_names():
    from django.contrib import admin

    from apps.campaigns.models import CampaignRun
    from apps.core.admin_base import grouped_column
    from apps.members.models import Member

    member_admin = admin.site._registry[Member]
    run_admin = admin.site._registry[CampaignRun]
    assert grouped_column("id", run_admin) == "id", "an id is never grouped"
    assert grouped_column("campaign", run_admin) == "campaign", "nor a foreign key"
    assert grouped_column("name", member_admin) == "name" and grouped_column("action_checkbox", member_admin) == "action_checkbox"
    assert grouped_column("targeted", run_admin).admin_order_field == "targeted", "a grouped column still sorts"


def test_form_inputs_are_not_grouped(client, staff):
    from tests.benefits.factories import BenefitFactory

    benefit = BenefitFactory(face_value=Decimal("12345.00"), total_stock=1000000)
    client.force_login(staff(is_superuser=True))
    page = client.get(reverse("admin:benefits_benefit_change", args=[benefit.pk])).content.decode()
    assert 'value="1000000"' in page and 'value="12345.00"' in page
