"""The one action page (AdminAction) and the list filters made from a FilterSet, through the pages that use them."""

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.core.admin_pagination import EXACT_COUNT_CAP, EstimatedCountPaginator
from apps.core.roles import OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import Member, MemberStatus
from tests.members.factories import ConsentFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_an_action_page_shows_its_form_on_get_and_changes_nothing(client, staff):
    member = MemberFactory()
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:members_member_freeze", args=[member.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="action-explanation"' in html and "until unfrozen" in html and member.name in html
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE


def test_an_action_page_acts_on_post_and_says_so(client, staff):
    member = MemberFactory()
    client.force_login(staff(OPERATIONS_MANAGER))
    done = client.post(reverse("admin:members_member_freeze", args=[member.pk]), {"reason": "Fraud check"})
    assert done.status_code == 302 and done["Location"] == reverse("admin:members_member_change", args=[member.pk])
    assert [str(m) for m in get_messages(done.wsgi_request)] == ["The member is frozen."]
    member.refresh_from_db()
    assert (member.status, member.status_reason) == (MemberStatus.FROZEN, "Fraud check")


def test_a_refusal_of_the_service_is_shown_on_the_form_with_what_was_typed_and_no_success(client, staff):
    member = MemberFactory()
    services.member_freeze(member=member, reason="First")
    client.force_login(staff(OPERATIONS_MANAGER))
    refused = client.post(reverse("admin:members_member_freeze", args=[member.pk]), {"reason": "Second"})
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "this is not possible" in html and "Second" in html
    assert list(get_messages(refused.wsgi_request)) == []
    member.refresh_from_db()
    assert member.status_reason == "First"


def test_an_invalid_form_is_shown_again_without_calling_the_service(client, staff):
    member = MemberFactory()
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.post(reverse("admin:members_member_freeze", args=[member.pk]), {"reason": ""}).status_code == 200
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE


def test_an_action_page_of_an_id_that_is_not_one_is_a_404(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get(reverse("admin:members_member_freeze", args=["not-a-number"])).status_code == 404


def test_a_list_filter_made_from_the_filterset_answers_as_the_filterset_does(client, staff):
    consenting, other = MemberFactory(), MemberFactory()
    ConsentFactory(member=consenting)
    client.force_login(staff(OPERATIONS_MANAGER))
    listing = client.get(reverse("admin:members_member_changelist"), {"consent": "sms"})
    assert list(listing.context["cl"].result_list) == [consenting]
    assert other not in listing.context["cl"].result_list


def test_a_value_the_filterset_refuses_is_an_incorrect_lookup_not_an_error(client, staff):
    MemberFactory()
    client.force_login(staff(OPERATIONS_MANAGER))
    refused = client.get(reverse("admin:members_member_changelist"), {"status__exact": "sleeping"})
    assert refused.status_code == 302 and refused["Location"].endswith("?e=1")


def test_the_paginator_counts_a_small_table_exactly_in_one_query(django_assert_num_queries):
    MemberFactory.create_batch(3)
    with django_assert_num_queries(1):
        assert EstimatedCountPaginator(Member.objects.all(), 50).count == 3
    assert EstimatedCountPaginator(Member.objects.filter(pk__gt=0), 50).count == 3
    assert admin.site._registry[Member].paginator is EstimatedCountPaginator
    assert EXACT_COUNT_CAP >= 1000
