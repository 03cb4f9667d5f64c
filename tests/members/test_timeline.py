"""The member timeline: every source returns its own items and respects the cursor; the merge orders and pages them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from apps.core.errors import ApplicationError
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.engagement.models import SignIn
from apps.members import selectors
from apps.members.models import PointsEntryKind
from apps.members.timeline import TIMELINE_SOURCE_PERMISSIONS, TIMELINE_SOURCES, TimelineCursor, decode_cursor, encode_cursor
from tests.analytics.factories import ActivityEventFactory
from tests.benefits.factories import BenefitFactory, GrantFactory
from tests.members.factories import GrowthEntryFactory, MemberFactory, PointsEntryFactory
from tests.members.timeline_helpers import fill_every_source
from tests.sales.factories import OwnedProductFactory

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


def _every_page(member, sources, limit):
    pages, before = [], None
    while True:
        page = selectors.member_timeline(member=member, sources=sources, before=before, limit=limit)
        pages.append(page.items)
        if page.older is None:
            return pages
        before = page.older


def _same_instant_in_five_sources(member, at):
    """Two items of each of five sources at one instant: only the source name and the id order them."""
    for _ in range(2):
        ActivityEventFactory(member=member, occurred_at=at)
        PointsEntryFactory(account=member.points_account, kind=PointsEntryKind.EARN, amount=10, created_at=at)
        GrowthEntryFactory(member=member, amount=5, created_at=at)
        GrantFactory(member=member, issued_at=at)
    SignIn.objects.create(member=member, day=at.date(), streak=1, signed_in_at=at)
    SignIn.objects.create(member=member, day=at.date() - timedelta(days=1), streak=2, signed_in_at=at)


def test_ties_at_one_instant_order_by_source_then_id_and_no_page_loses_or_repeats_an_item():
    member = MemberFactory()
    at = timezone.now() - timedelta(hours=2)
    _same_instant_in_five_sources(member, at)
    fill_every_source(member)
    everything = selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=500).items
    assert [(item.at, item.source, item.item_id) for item in everything] == sorted(
        ((item.at, item.source, item.item_id) for item in everything), reverse=True
    )
    tied = [(item.source, item.item_id) for item in everything if item.at == at]
    assert [source for source, _id in tied] == sorted(["activities", "points", "growth", "grants", "sign_ins"] * 2, reverse=True)
    for limit in (1, 2, 3, 7):
        assert [item for page in _every_page(member, TIMELINE_SOURCES, limit) for item in page] == everything, limit


@pytest.mark.skipif(not connection.features.supports_slicing_ordering_in_compound, reason="one UNION ALL on PostgreSQL only")
def test_on_postgresql_a_page_of_every_source_is_one_query_and_matches_the_read_per_source(monkeypatch):
    member = MemberFactory()
    fill_every_source(member)
    _same_instant_in_five_sources(member, timezone.now() - timedelta(hours=2))
    ActivityEventFactory(member=member, kind="purchase", amount=Decimal("12.50"), occurred_at=timezone.now() - timedelta(minutes=5))
    car = OwnedProductFactory(owner=member)
    car.ownerships.update(ended_at=(timezone.now() + timedelta(days=1)).replace(microsecond=123_456))
    # A page size no other test reads, so no earlier test on this connection prepared the shape; letting go of another
    # test's statements (DEALLOCATE, past the per-connection bound) is not this page's work.
    with CaptureQueriesContext(connection) as queries:
        page = selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=13)
        assert selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=13) == page
    statements = [query["sql"] for query in queries if not query["sql"].startswith("DEALLOCATE")]
    # The connection prepares the page's UNION ALL once; every later page of the same shape is one EXECUTE.
    assert [sql.split()[0] for sql in statements] == ["PREPARE", "EXECUTE", "EXECUTE"]
    assert "UNION ALL" in statements[0]
    union_pages = _every_page(member, TIMELINE_SOURCES, 4)
    # The page's SQL is built once and reused: another member's read through it finds only their own items.
    other = MemberFactory()
    fill_every_source(other, start=timezone.now() - timedelta(days=5))
    others_pages = _every_page(other, TIMELINE_SOURCES, 4)

    monkeypatch.setattr(connection.features, "supports_slicing_ordering_in_compound", False)
    assert selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=13) == page
    assert _every_page(member, TIMELINE_SOURCES, 4) == union_pages
    assert _every_page(other, TIMELINE_SOURCES, 4) == others_pages
    purchase = next(item for item in page.items if item.kind == "purchase")
    # Decimals and times come back from the packed JSON exactly as the model reads them.
    assert purchase.detail == "¥12.50" and purchase.data["amount"] == "12.50"
    ownership = next(item for page in union_pages for item in page if item.source == "ownerships")
    assert ownership.data["ended_at"] == car.ownerships.get().ended_at.isoformat()


def test_a_cursor_naming_a_source_the_reader_may_not_read_shows_none_of_its_items(staff):
    member = MemberFactory()
    fill_every_source(member)
    sources = selectors.timeline_sources_for(user=staff(CUSTOMER_SERVICE))
    newest = ActivityEventFactory(member=member, occurred_at=timezone.now())
    forged = TimelineCursor(at=newest.occurred_at + timedelta(seconds=1), source="activities", item_id=newest.pk + 1)
    seen = [item for page in _every_page(member, sources, 3) for item in page]
    from_forged = selectors.member_timeline(member=member, sources=sources, before=forged, limit=500).items
    assert seen and from_forged == seen
    assert not {"activities", "campaigns"} & {item.source for item in seen}


def test_translated_names_read_in_the_readers_language_with_the_models_fallback():
    member = MemberFactory()
    named = GrantFactory(member=member, benefit=BenefitFactory(name_en="Car wash", name_zh_hans="洗车券"))
    english_only = GrantFactory(member=member, benefit=BenefitFactory(name_en="Oil change", name_zh_hans=""))
    grants = [source for source in TIMELINE_SOURCES if source.name == "grants"]
    with translation.override("zh-hans"):
        titles = {item.item_id: item.data["benefit"] for item in selectors.member_timeline(member=member, sources=grants).items}
    assert titles == {named.pk: "洗车券", english_only.pk: "Oil change"}
    with translation.override("en"):
        titles = {item.item_id: item.data["benefit"] for item in selectors.member_timeline(member=member, sources=grants).items}
    assert titles == {named.pk: "Car wash", english_only.pk: "Oil change"}


def test_a_forged_cursor_source_maps_to_one_of_a_few_names_that_order_the_same():
    names = ["activities", "grants", "points"]
    for forged in ("", "a", "activities\x00x", "b", "grants", "zzz", "点"):
        stand_in = selectors._same_order_as(forged, names)
        assert stand_in in {"", *names, *(name + "\x00" for name in names)}
        assert [name < stand_in for name in names] == [name < forged for name in names], forged
        assert [name == stand_in for name in names] == [name == forged for name in names], forged


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


@pytest.mark.skipif(not connection.features.supports_slicing_ordering_in_compound, reason="prepared statements on PostgreSQL only")
def test_a_connection_keeps_a_bounded_number_of_page_statements_and_pages_stay_right_after_one_is_let_go(monkeypatch):
    member = MemberFactory()
    fill_every_source(member)
    monkeypatch.setattr(selectors, "PREPARED_PER_CONNECTION", 2)
    shapes = [[source for source in TIMELINE_SOURCES if source.name in names] for names in ({"points"}, {"grants"}, {"growth"})]
    expected = [selectors.member_timeline(member=member, sources=sources).items for sources in shapes]
    with CaptureQueriesContext(connection) as queries:
        again = [selectors.member_timeline(member=member, sources=sources).items for sources in shapes]
    assert again == expected and all(expected)
    assert any(query["sql"].startswith("DEALLOCATE") for query in queries)


@pytest.mark.skipif(not connection.features.supports_slicing_ordering_in_compound, reason="prepared statements on PostgreSQL only")
def test_a_connection_that_may_not_prepare_sends_the_page_query_itself_and_reads_the_same_pages(monkeypatch):
    member = MemberFactory()
    fill_every_source(member)
    _same_instant_in_five_sources(member, timezone.now() - timedelta(hours=2))
    prepared_pages = _every_page(member, TIMELINE_SOURCES, 4)
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {**connection.settings_dict.get("OPTIONS", {}), "prepare_threshold": None})
    with CaptureQueriesContext(connection) as queries:
        assert _every_page(member, TIMELINE_SOURCES, 4) == prepared_pages
    assert not [query for query in queries if query["sql"].split()[0] in {"PREPARE", "EXECUTE", "DEALLOCATE"}]
