"""The duplicates' back office: the list, the side-by-side page (masked per role), merge and dismiss by POST only, and
the merged member's page leading to the survivor."""

import pytest
from django.urls import reverse

from apps.core.models import AccessAction, AccessLogEntry
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members.models import DuplicateState, Member, MemberMerge
from tests.members.factories import DuplicateCandidateFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    a = MemberFactory(name="陈晨", email="chen@example.com", phone="+8613811110000")
    b = MemberFactory(name="陈晨", email="chen@example.com", phone=None, external_id=None)
    return DuplicateCandidateFactory(member_a=a, member_b=b)


def _page(pair):
    return reverse("admin:members_duplicatecandidate_change", args=[pair.pk])


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CUSTOMER_SERVICE, ANALYST])
def test_the_list_and_the_pair_page_show_both_members(client, staff, pair, role):
    client.force_login(staff(role))
    listing = client.get(reverse("admin:members_duplicatecandidate_changelist"))
    assert listing.status_code == 200 and "陈晨" in listing.content.decode()
    page = client.get(_page(pair)).content.decode()
    assert f"#{pair.member_a_id}" in page and f"#{pair.member_b_id}" in page
    # Only staff with the right see a merge form; everyone who sees the page sees the phone masked or not per role.
    assert ('data-testid="merge-form"' in page) == (role != ANALYST)
    assert ("+8613811110000" in page) == (role != ANALYST)


@pytest.mark.parametrize("role", [CAMPAIGN_MANAGER, AUDITOR])
def test_roles_without_the_list_cannot_reach_it_by_url(client, staff, pair, role):
    client.force_login(staff(role))
    assert client.get(reverse("admin:members_duplicatecandidate_changelist")).status_code == 403
    assert client.get(_page(pair)).status_code == 403


def test_a_role_that_may_only_look_cannot_merge_or_dismiss_by_posting(client, staff, pair):
    client.force_login(staff(ANALYST))
    assert client.post(_page(pair), {"_merge": "1", "survivor": "a", "identity.external_id": "a"}).status_code == 403
    assert client.post(_page(pair), {"_dismiss": "1"}).status_code == 403
    assert not MemberMerge.objects.exists()


def test_merging_from_the_page_asks_for_each_conflict_then_leads_to_the_survivor(client, staff, pair):
    client.force_login(staff(CUSTOMER_SERVICE))
    Member.objects.filter(pk=pair.member_b_id).update(city="北京")
    refused = client.post(_page(pair), {"_merge": "1", "survivor": "b"})
    assert refused.status_code == 200 and not MemberMerge.objects.exists()

    done = client.post(_page(pair), {"_merge": "1", "survivor": "b", "identity.city": "a"})

    assert done.status_code == 302 and done["Location"] == reverse("admin:members_member_change", args=[pair.member_b_id])
    survivor = Member.objects.get(pk=pair.member_b_id)
    assert survivor.city == "上海" and survivor.phone == "+8613811110000"
    # The merged member's page leads to the survivor.
    old = client.get(reverse("admin:members_member_change", args=[pair.member_a_id]))
    assert old.status_code == 302 and old["Location"] == reverse("admin:members_member_change", args=[pair.member_b_id])


def test_dismissing_from_the_page(client, staff, pair):
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.post(_page(pair), {"_dismiss": "1"}).status_code == 302
    pair.refresh_from_db()
    assert pair.state == DuplicateState.DISMISSED
    # A decided pair offers no form, and a second post is refused.
    assert 'data-testid="merge-form"' not in client.get(_page(pair)).content.decode()
    assert client.post(_page(pair), {"_dismiss": "1"}).status_code == 403


def test_the_merge_audit_masks_the_merged_identity_without_the_right(client, staff, pair):
    client.force_login(staff(CUSTOMER_SERVICE))
    client.post(_page(pair), {"_merge": "1", "survivor": "b"})
    merge = MemberMerge.objects.get()
    client.force_login(staff(AUDITOR))
    page = client.get(reverse("admin:members_membermerge_change", args=[merge.pk])).content.decode()
    assert "+8613811110000" not in page and "chen@example.com" not in page
    client.force_login(staff(OPERATIONS_MANAGER))
    assert "+8613811110000" in client.get(reverse("admin:members_membermerge_change", args=[merge.pk])).content.decode()


def test_the_pair_page_in_full_is_in_the_access_log_and_the_masked_one_is_not(client, staff, pair):
    client.force_login(staff(ANALYST))
    client.get(_page(pair))
    assert not AccessLogEntry.objects.filter(action=AccessAction.VIEW_MEMBER_DETAIL).exists()
    agent = staff(CUSTOMER_SERVICE)
    client.force_login(agent)
    client.get(_page(pair))
    logged = AccessLogEntry.objects.filter(action=AccessAction.VIEW_MEMBER_DETAIL, user=agent)
    assert sorted(logged.values_list("object_id", flat=True)) == sorted([str(pair.member_a_id), str(pair.member_b_id)])


def test_the_merge_audit_in_full_is_in_the_access_log_and_the_masked_one_is_not(client, staff, pair):
    client.force_login(staff(CUSTOMER_SERVICE))
    client.post(_page(pair), {"_merge": "1", "survivor": "b"})
    merge = MemberMerge.objects.get()
    url = reverse("admin:members_membermerge_change", args=[merge.pk])
    auditor = staff(AUDITOR)
    client.force_login(auditor)
    assert client.get(url).status_code == 200
    assert not AccessLogEntry.objects.filter(action=AccessAction.VIEW_MEMBER_DETAIL, user=auditor).exists()
    manager = staff(OPERATIONS_MANAGER)
    client.force_login(manager)
    assert client.get(url).status_code == 200
    logged = AccessLogEntry.objects.filter(action=AccessAction.VIEW_MEMBER_DETAIL, user=manager)
    assert list(logged.values_list("object_id", flat=True)) == [str(merge.merged_id)]
