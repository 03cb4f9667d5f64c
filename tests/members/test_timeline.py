"""The member timeline: every source returns its own items and respects the cursor; the merge orders and pages them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import selectors
from apps.members.models import PointsEntryKind
from apps.members.timeline import TIMELINE_SOURCE_PERMISSIONS, TIMELINE_SOURCES, TimelineCursor, decode_cursor, encode_cursor
from tests.analytics.factories import ActivityEventFactory
from tests.members.factories import MemberFactory, PointsEntryFactory
from tests.members.timeline_helpers import fill_every_source

pytestmark = pytest.mark.django_db

EXISTING_SOURCES = {
    "activities", "points", "growth", "tiers", "staff_changes", "grants", "redemptions", "registrations", "check_ins",
    "messages", "campaigns", "referrals", "tasks", "sign_ins", "rule_awards",
}  # fmt: skip


def _cursor(item):
    return TimelineCursor(at=item.at, source=item.source, item_id=item.item_id)


def test_every_existing_app_registers_its_sources():
    assert {source.name for source in TIMELINE_SOURCES} >= EXISTING_SOURCES


def test_each_source_returns_the_members_items_and_no_one_elses():
    member, other = MemberFactory(), MemberFactory()
    made = fill_every_source(member)
    fill_every_source(other)
    for source in TIMELINE_SOURCES:
        if source.name not in EXISTING_SOURCES:
            continue
        items = source.fetch(member, None, 100)
        expected = made.get(source.name)
        if source.name == "tiers":
            assert [item.kind for item in items] == ["initial"]
            continue
        expected_ids = sorted(getattr(row, "history_id", row.pk) for row in (expected if isinstance(expected, list) else [expected]))
        if source.name == "activities":
            # The rule award's activity is the member's too.
            assert set(expected_ids) < {item.item_id for item in items}
            continue
        assert sorted(item.item_id for item in items) == expected_ids, source.name
        assert all(item.source == source.name for item in items)


def test_each_source_returns_only_items_strictly_older_than_the_cursor_newest_first():
    member = MemberFactory()
    fill_every_source(member)
    fill_every_source(member, start=timezone.now() - timedelta(days=10))
    for source in TIMELINE_SOURCES:
        items = list(source.fetch(member, None, 100))
        assert items == sorted(items, key=lambda item: (item.at, item.item_id), reverse=True), source.name
        for index, item in enumerate(items):
            assert list(source.fetch(member, _cursor(item), 100)) == items[index + 1 :], source.name
        assert len(source.fetch(member, None, 1)) == min(1, len(items))


def test_a_cursor_at_the_same_instant_orders_by_source_then_id():
    member = MemberFactory()
    at = timezone.now() - timedelta(hours=1)
    activities = [ActivityEventFactory(member=member, occurred_at=at) for _ in range(3)]
    entries = [PointsEntryFactory(account=member.points_account, kind=PointsEntryKind.EARN, amount=10, created_at=at) for _ in range(2)]
    sources = [source for source in TIMELINE_SOURCES if source.name in {"activities", "points"}]
    expected = [("points", entry.pk) for entry in reversed(entries)] + [("activities", event.pk) for event in reversed(activities)]

    for limit in (1, 2, 3, 10):
        seen, before = [], None
        while True:
            page = selectors.member_timeline(member=member, sources=sources, before=before, limit=limit)
            seen += [(item.source, item.item_id) for item in page.items]
            if page.older is None:
                break
            before = page.older
        assert seen == expected, limit


def test_merge_takes_the_newest_items_across_sources_and_says_when_nothing_is_older():
    member = MemberFactory()
    fill_every_source(member)
    page = selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=5)
    everything = selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=500)
    assert page.items == everything.items[:5]
    assert page.older == _cursor(page.items[-1])
    assert everything.older is None
    assert [item.at for item in everything.items] == sorted((item.at for item in everything.items), reverse=True)


def test_filters_by_source_and_by_kind():
    member = MemberFactory()
    fill_every_source(member)
    ActivityEventFactory.create_batch(3, member=member, kind="purchase", amount=10, occurred_at=timezone.now() - timedelta(days=40))
    grants = [source for source in TIMELINE_SOURCES if source.name == "grants"]
    page = selectors.member_timeline(member=member, sources=grants, limit=50)
    assert {item.source for item in page.items} == {"grants"}

    pages, before = [], None
    while True:
        page = selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=2, kinds={"purchase"}, rounds=20, before=before)
        pages.append([item.kind for item in page.items])
        if page.older is None:
            break
        before = page.older
    assert pages == [["purchase", "purchase"], ["purchase"]]


def test_a_rare_kind_reads_a_bounded_window_and_hands_back_a_cursor_to_go_on():
    member = MemberFactory()
    old = timezone.now() - timedelta(days=400)
    ActivityEventFactory(member=member, kind="purchase", amount=10, occurred_at=old)
    ActivityEventFactory.create_batch(30, member=member, occurred_at=timezone.now() - timedelta(days=1))
    activities = [source for source in TIMELINE_SOURCES if source.name == "activities"]

    page = selectors.member_timeline(member=member, sources=activities, limit=5, kinds={"purchase"}, rounds=2)
    assert page.items == []
    assert page.older is not None
    found, before = [], page.older
    while before is not None:
        page = selectors.member_timeline(member=member, sources=activities, limit=5, kinds={"purchase"}, rounds=2, before=before)
        found += page.items
        before = page.older
    assert [item.at for item in found] == [old]


def test_cursor_round_trips_exactly_and_a_forged_one_is_refused_naming_the_parameter():
    cursor = TimelineCursor(at=timezone.now().replace(microsecond=999_999), source="points", item_id=42)
    assert decode_cursor(encode_cursor(cursor)) == cursor
    for text in ("nonsense", "", "bm90fGF8Y3Vyc29y"):
        with pytest.raises(ApplicationError) as refused:
            decode_cursor(text)
        assert refused.value.code == "invalid_cursor"
        assert "before" in refused.value.fields


def test_staff_read_only_the_sources_their_role_may_read(staff):
    agent = staff(CUSTOMER_SERVICE)
    names = {source.name for source in selectors.timeline_sources_for(user=agent)}
    # Customer service reads the ledger, grants, events, messages and awards, but not analytics or campaigns.
    assert {"points", "grants", "registrations", "messages", "rule_awards", "staff_changes"} <= names
    assert not {"activities", "campaigns"} & names
    manager = {source.name for source in selectors.timeline_sources_for(user=staff(OPERATIONS_MANAGER))}
    assert manager >= EXISTING_SOURCES
    auditor = {source.name for source in selectors.timeline_sources_for(user=staff(AUDITOR))}
    assert "messages" not in auditor and "points" in auditor


def test_the_member_reads_only_the_sources_shown_to_members():
    names = {source.name for source in selectors.timeline_sources_for(for_member=True)}
    assert {"activities", "points", "grants", "registrations", "sign_ins"} <= names
    assert not {"staff_changes", "rule_awards", "messages", "campaigns"} & names


# The member record's own history, readable by every staff user who may view the member; every other source names
# the permission of the app that owns it, so a new source cannot become readable by every role by omission.
OPEN_TO_MEMBER_VIEWERS = {"growth", "tiers", "staff_changes", "stages"}


def test_every_source_but_the_member_records_own_names_the_permission_it_needs():
    assert {source.name for source in TIMELINE_SOURCES if source.name not in TIMELINE_SOURCE_PERMISSIONS} == OPEN_TO_MEMBER_VIEWERS


def test_complaints_survey_answers_leads_and_journeys_stay_with_the_roles_that_handle_them(staff):
    def readable(role):
        return {source.name for source in selectors.timeline_sources_for(user=staff(role))}

    assert not {"feedback", "survey", "leads", "ownerships", "journey_steps"} & readable(AUDITOR)
    campaign_manager = readable(CAMPAIGN_MANAGER)
    assert not {"feedback", "survey", "leads"} & campaign_manager
    assert {"journey_steps", "ownerships", "tags"} <= campaign_manager
    assert not {"feedback", "survey"} & readable(ANALYST)
    assert {"feedback", "survey", "leads", "ownerships", "tags"} <= readable(CUSTOMER_SERVICE)
