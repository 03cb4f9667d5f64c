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
