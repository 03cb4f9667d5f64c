"""The customer profile page in the back office: what each role reads, masking, sections, the timeline's paging."""

import re

import pytest
from django.urls import reverse

from apps.analytics.models import RfmScore, RfmSegment
from apps.core.models import AccessAction, AccessLogEntry
from apps.core.roles import CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members.profile_sections import PROFILE_SECTIONS
from tests.analytics.factories import ActivityEventFactory
from tests.members.factories import ConsentFactory, MemberFactory
from tests.members.timeline_helpers import fill_every_source

pytestmark = pytest.mark.django_db


def profile_url(member, **params):
    url = reverse("admin:members_member_profile", args=[member.pk])
    return url + ("?" + "&".join(f"{key}={value}" for key, value in params.items()) if params else "")


def logged_in(client, user):
    client.force_login(user)
    return client


def test_existing_apps_register_their_sections():
    assert {"consents", "tags", "rfm", "clubs", "badges", "benefits", "held_awards"} <= {s.name for s in PROFILE_SECTIONS}


def test_agent_reads_identity_tier_points_sections_and_timeline(client, staff):
    member = MemberFactory(email="li.lei@example.com")
    ConsentFactory(member=member, channel="sms", granted=True)
    fill_every_source(member)
    member.tags.create(name="车主")
    RfmScore.objects.create(member=member, recency=5, frequency=4, monetary=3, segment=RfmSegment.LOYAL, scored_at="2026-11-30T00:00:00Z")
    page = logged_in(client, staff(CUSTOMER_SERVICE)).get(profile_url(member))
    assert page.status_code == 200
    html = page.content.decode()
    assert member.phone in html and "li.lei@example.com" in html
    for section in ("consents", "tags", "clubs", "badges", "benefits", "held_awards"):
        assert f'data-testid="profile-section-{section}"' in html, section
    # Analytics' RFM score and campaign actions are not customer service's to read.
    assert 'data-testid="profile-section-rfm"' not in html
    sources = set(re.findall(r'data-testid="timeline-item" data-source="(\w+)"', html))
    assert {"points", "grants", "registrations", "messages", "rule_awards", "staff_changes"} <= sources
    assert not {"campaigns", "activities"} & sources
    assert AccessLogEntry.objects.filter(action=AccessAction.VIEW_MEMBER_DETAIL, object_id=str(member.pk)).exists()


def test_a_role_without_the_personal_data_right_sees_phone_email_and_birthday_masked(client, staff):
    member = MemberFactory(email="han.meimei@example.com", birthday="1990-05-17")
    html = logged_in(client, staff(CAMPAIGN_MANAGER)).get(profile_url(member)).content.decode()
    assert member.phone not in html and member.phone[3:] not in html
    assert "han.meimei@example.com" not in html
    assert "05-17" not in html
    assert not AccessLogEntry.objects.filter(action=AccessAction.VIEW_MEMBER_DETAIL).exists()


def test_staff_without_a_role_or_an_unknown_member_are_refused(client, staff):
    member = MemberFactory()
    assert logged_in(client, staff()).get(profile_url(member)).status_code == 403
    manager = logged_in(client, staff(OPERATIONS_MANAGER))
    assert manager.get(reverse("admin:members_member_profile", args=[10**9])).status_code == 404
    assert manager.get(reverse("admin:members_member_profile", args=["nope"])).status_code == 404


def test_an_agent_cannot_reach_a_restricted_source_by_url(client, staff):
    member = MemberFactory()
    fill_every_source(member)
    page = logged_in(client, staff(CUSTOMER_SERVICE)).get(profile_url(member, source="campaigns"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="timeline-item"' not in html
    assert 'data-testid="timeline-error"' in html


def test_a_member_without_sections_shows_the_header_and_an_empty_timeline(client, staff):
    member = MemberFactory()
    html = logged_in(client, staff(OPERATIONS_MANAGER)).get(profile_url(member)).content.decode()
    for section in ("rfm", "clubs", "badges", "benefits", "held_awards", "tags"):
        assert f'data-testid="profile-section-{section}"' not in html
    # Enrolment's tier change is the one thing that happened.
    assert len(re.findall(r'data-testid="timeline-item"', html)) == 1


def test_filters_and_older_newer_links_page_without_offsets(client, staff):
    member = MemberFactory()
    events = ActivityEventFactory.create_batch(60, member=member)
    manager = logged_in(client, staff(OPERATIONS_MANAGER))
    seen, url, newer_pages = [], profile_url(member, source="activities", kind="app_open"), []
    while url:
        page = manager.get(url if url.startswith("/") else profile_url(member) + url)
        html = page.content.decode()
        ids = re.findall(r'href="/admin/analytics/activityevent/(\d+)/change/"', html)
        seen += [int(i) for i in ids]
        newer = re.search(r'href="([^"]+)" data-testid="timeline-newer"', html)
        newer_pages.append(newer.group(1).replace("&amp;", "&") if newer else None)
        older = re.search(r'href="([^"]+)" data-testid="timeline-older"', html)
        url = older.group(1).replace("&amp;", "&") if older else ""
    assert seen == sorted((event.pk for event in events), reverse=True)
    assert newer_pages[0] is None and all(newer_pages[1:])
    # "Newer" from the last page shows the page before it.
    back = manager.get(profile_url(member) + newer_pages[-1]).content.decode()
    assert [int(i) for i in re.findall(r'href="/admin/analytics/activityevent/(\d+)/change/"', back)] == seen[25:50]


def test_a_forged_cursor_is_a_message_not_an_error(client, staff):
    member = MemberFactory()
    page = logged_in(client, staff(OPERATIONS_MANAGER)).get(profile_url(member, before="garbage"))
    assert page.status_code == 200
    assert 'data-testid="timeline-error"' in page.content.decode()


def test_member_list_and_member_page_link_to_the_profile(client, staff):
    member = MemberFactory()
    manager = logged_in(client, staff(OPERATIONS_MANAGER))
    assert profile_url(member) in manager.get(reverse("admin:members_member_changelist")).content.decode()
    assert profile_url(member) in manager.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
