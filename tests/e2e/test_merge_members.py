"""Merging two members in a real browser: a customer-service agent opens a pair from the duplicates list, sees both
members side by side, is told to choose a value where they differ, chooses, merges, lands on the survivor's page, and
the merged member's old page leads there too."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.roles import CUSTOMER_SERVICE
from apps.members import services
from apps.members.models import Member, MemberMerge, PointsAccount
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_merge_two_members_in_the_back_office(page, login_as, screenshot, live_server):
    survivor = MemberFactory(name="林晓", email="lin@example.com", city="上海", phone="+8613655550001")
    duplicate = MemberFactory(name="林晓", email="LIN@example.com", city="苏州", phone=None, external_id=None)
    services.points_earn(member=survivor, amount=100, reason="Purchase")
    services.points_earn(member=duplicate, amount=250, reason="Purchase", expires_at=timezone.now() + timedelta(days=60))
    services.duplicates_find()
    login_as(CUSTOMER_SERVICE)

    page.goto("/admin/members/duplicatecandidate/")
    page.get_by_role("link", name=f"#{survivor.pk} 林晓 ~ #{duplicate.pk} 林晓").click()
    sides = page.get_by_test_id("merge-sides")
    assert "苏州" in sides.inner_text() and "上海" in sides.inner_text()
    screenshot("merge-side-by-side")

    page.get_by_label(f"#{survivor.pk} 林晓").check()
    page.get_by_role("button", name="Merge").click()
    page.get_by_text("Choose a value for each conflict before merging: Email, City.").first.wait_for()
    assert not MemberMerge.objects.exists()

    page.get_by_label(f"上海 (#{survivor.pk})").check()
    page.get_by_label(f"LIN@example.com (#{duplicate.pk})").check()
    page.get_by_role("button", name="Merge").click()
    page.wait_for_url(f"**/admin/members/member/{survivor.pk}/change/")
    assert f"Member #{duplicate.pk} was merged into member #{survivor.pk}." in page.content()
    assert PointsAccount.objects.get(member=survivor).balance == 350
    merged_into_survivor = Member.objects.get(pk=survivor.pk)
    assert (merged_into_survivor.city, merged_into_survivor.email) == ("上海", "LIN@example.com")
    assert Member.objects.get(pk=duplicate.pk).merged_into_id == survivor.pk

    page.goto(f"/admin/members/member/{duplicate.pk}/change/")
    page.wait_for_url(f"**/admin/members/member/{survivor.pk}/change/")
    assert f"Member #{duplicate.pk} was merged into this member." in page.content()
    screenshot("merge-survivor")
