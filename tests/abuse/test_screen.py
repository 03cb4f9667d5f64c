"""The abuse screen through apps.core.awards.awards_screen, on real stored activity events and candidate awards."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.abuse import services
from apps.abuse.models import BlockKind, Scope, VelocityLimit
from apps.core.awards import awards_screen
from tests.abuse.factories import candidate, events
from tests.analytics.factories import ActivityEventFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def limit(**fields: object) -> VelocityLimit:
    defaults = {"name": "device sign-ins", "scope": Scope.DEVICE, "kind": "sign_in", "max_events": 3, "window_minutes": 10}
    return services.limit_save(limit=VelocityLimit(**{**defaults, **fields}))


def minutes_ago(*minutes: float) -> list:
    return [NOW - timedelta(minutes=m) for m in minutes]


def test_exactly_the_limit_is_paid_and_the_next_event_is_held_with_a_clear_reason():
    limit(max_events=3)
    member = MemberFactory()
    stored = events(member, minutes_ago(4, 3, 2, 1), kind="sign_in", device_id="d-123")
    held = awards_screen([candidate(event) for event in stored])
    assert held == {3: ["device d-123: 4 sign_in events in 10 minutes, limit 3"]}


@pytest.mark.parametrize(
    ("scope", "fields_of"),
    [
        (Scope.MEMBER, lambda i: {}),
        (Scope.DEVICE, lambda i: {"device_id": "dev-A", "member": MemberFactory()}),
        (Scope.ADDRESS, lambda i: {"client_ip": "203.0.113.9", "member": MemberFactory()}),
    ],
)
def test_every_scope_counts_its_own_value_across_the_batch(scope, fields_of):
    limit(scope=scope, kind="", max_events=2)
    member = MemberFactory()
    stored = [ActivityEventFactory(**{"member": member, "occurred_at": at, **fields_of(i)}) for i, at in enumerate(minutes_ago(3, 2, 1))]
    held = awards_screen([candidate(event) for event in stored])
    assert list(held) == [2]
    assert "3 events in 10 minutes, limit 2" in held[2][0]


def test_other_values_and_other_kinds_do_not_count():
    limit(max_events=1)
    member = MemberFactory()
    mine = events(member, minutes_ago(2), kind="sign_in", device_id="mine")
    events(member, minutes_ago(3, 2.5), kind="sign_in", device_id="other")  # another device
    events(member, minutes_ago(3, 2.5), kind="community_post", device_id="mine")  # another kind
    assert awards_screen([candidate(event) for event in mine]) == {}


def test_window_edges_an_event_exactly_window_minutes_old_is_outside():
    limit(max_events=1, window_minutes=10)
    member = MemberFactory()
    old = events(member, minutes_ago(10), kind="sign_in", device_id="d")
    new = events(member, minutes_ago(0), kind="sign_in", device_id="d")
    assert awards_screen([candidate(event) for event in old + new]) == {}
    just_inside = events(member, [NOW - timedelta(minutes=10) + timedelta(seconds=1)], kind="sign_in", device_id="e")
    later = events(member, minutes_ago(0), kind="sign_in", device_id="e")
    assert list(awards_screen([candidate(event) for event in just_inside + later])) == [1]


def test_events_stored_before_the_batch_count_and_only_the_batch_is_judged():
    limit(max_events=2)
    member = MemberFactory()
    events(member, minutes_ago(5, 4), kind="sign_in", device_id="d")  # an earlier batch, already paid
    batch = events(member, minutes_ago(1), kind="sign_in", device_id="d")
    assert awards_screen([candidate(event) for event in batch]) == {0: ["device d: 3 sign_in events in 10 minutes, limit 2"]}


def test_events_at_the_same_instant_are_ordered_by_arrival():
    limit(max_events=2)
    member = MemberFactory()
    stored = events(member, [NOW, NOW, NOW], kind="sign_in", device_id="burst")
    assert list(awards_screen([candidate(event) for event in stored])) == [2]


def test_several_candidates_of_one_event_are_judged_alike_and_reasons_add_up():
    limit(max_events=1)
    limit(name="member any kind", scope=Scope.MEMBER, kind="", max_events=1)
    member = MemberFactory()
    first, second = events(member, minutes_ago(2, 1), kind="sign_in", device_id="d")
    held = awards_screen([candidate(first), candidate(second, source="rule:1"), candidate(second, source="task:4")])
    assert set(held) == {1, 2}
    assert held[1] == held[2]
    assert held[1][0].startswith("device d: 2 sign_in events") and "member " in held[1][0]


def test_an_inactive_limit_holds_nothing():
    saved = limit(max_events=1)
    services.limit_set_active(limit=saved, active=False)
    member = MemberFactory()
    stored = events(member, minutes_ago(2, 1), kind="sign_in", device_id="d")
    assert awards_screen([candidate(event) for event in stored]) == {}


def test_an_ipv4_address_matches_its_ipv6_mapped_spelling():
    limit(scope=Scope.ADDRESS, kind="", max_events=1)
    member = MemberFactory()
    stored = [
        ActivityEventFactory(member=member, occurred_at=NOW - timedelta(minutes=2), client_ip="::ffff:198.51.100.7"),
        ActivityEventFactory(member=member, occurred_at=NOW - timedelta(minutes=1), client_ip="198.51.100.7"),
    ]
    held = awards_screen([candidate(event) for event in stored])
    assert held == {1: ["address 198.51.100.7: 2 events in 10 minutes, limit 1"]}


def test_ipv6_addresses_are_counted_per_address():
    limit(scope=Scope.ADDRESS, kind="", max_events=1)
    member = MemberFactory()
    stored = [
        ActivityEventFactory(member=member, occurred_at=at, client_ip=ip)
        for at, ip in zip(minutes_ago(3, 2, 1), ["2001:db8::1", "2001:db8::2", "2001:DB8:0::1"], strict=True)
    ]
    held = awards_screen([candidate(event) for event in stored])
    assert list(held) == [2]
    assert held[2] == ["address 2001:db8::1: 2 events in 10 minutes, limit 1"]


def test_the_screen_reads_one_query_per_active_limit_per_batch(django_capture_on_commit_callbacks):
    limit(max_events=50)
    limit(name="members", scope=Scope.MEMBER, kind="", max_events=50)
    stored = [ActivityEventFactory(kind="sign_in", device_id=f"d{i}", occurred_at=NOW) for i in range(40)]
    candidates = [candidate(event) for event in stored]
    with django_capture_on_commit_callbacks(execute=True):
        awards_screen(candidates)  # warms the cached configuration (the database cache writes it after the commit)
    with CaptureQueriesContext(connection) as queries:
        assert awards_screen(candidates) == {}
    activity_queries = [q["sql"] for q in queries.captured_queries if "analytics_activityevent" in q["sql"]]
    assert len(activity_queries) == 2
    assert len(queries.captured_queries) <= 3  # plus at most the shared cache's read


def test_with_nothing_configured_the_screen_reads_only_the_cached_configuration(django_capture_on_commit_callbacks):
    stored = [ActivityEventFactory(kind="sign_in", device_id=f"d{i}", client_ip="192.0.2.1") for i in range(100)]
    candidates = [candidate(event) for event in stored]
    with django_capture_on_commit_callbacks(execute=True):
        assert awards_screen(candidates) == {}
    with CaptureQueriesContext(connection) as queries:
        assert awards_screen(candidates) == {}
    assert all("abuse_" not in q["sql"] and "analytics_activityevent" not in q["sql"] for q in queries.captured_queries)
    assert len(queries.captured_queries) <= 1


def test_a_new_limit_takes_effect_from_the_next_batch_without_waiting_for_the_cache():
    member = MemberFactory()
    stored = events(member, minutes_ago(2, 1), kind="sign_in", device_id="d")
    assert awards_screen([candidate(event) for event in stored]) == {}  # caches "nothing configured"
    limit(max_events=1)
    assert list(awards_screen([candidate(event) for event in stored])) == [1]


# --- blocklist ---


def test_a_blocked_member_device_or_address_is_held_with_the_entry_reason():
    blocked_member, blocked_device, blocked_address, clean = MemberFactory(), MemberFactory(), MemberFactory(), MemberFactory()
    services.block_add(kind=BlockKind.MEMBER, member=blocked_member, reason="chargeback fraud")
    services.block_add(kind=BlockKind.DEVICE, device_id="emulator-7", reason="emulator farm")
    services.block_add(kind=BlockKind.ADDRESS, network="203.0.113.0/24", reason="data centre")
    stored = [
        ActivityEventFactory(member=blocked_member),
        ActivityEventFactory(member=blocked_device, device_id="emulator-7"),
        ActivityEventFactory(member=blocked_address, client_ip="203.0.113.200"),
        ActivityEventFactory(member=clean, device_id="phone-1", client_ip="198.51.100.1"),
    ]
    held = awards_screen([candidate(event) for event in stored])
    assert held == {
        0: [f"blocked member {blocked_member.pk}: chargeback fraud"],
        1: ["blocked device emulator-7: emulator farm"],
        2: ["blocked address 203.0.113.200 (203.0.113.0/24): data centre"],
    }


def test_an_expired_or_lifted_block_holds_nothing():
    member = MemberFactory()
    entry = services.block_add(kind=BlockKind.DEVICE, device_id="d", reason="test", until=timezone.now() + timedelta(hours=1))
    stored = [ActivityEventFactory(member=member, device_id="d")]
    assert list(awards_screen([candidate(event) for event in stored])) == [0]
    type(entry).objects.filter(pk=entry.pk).update(until=timezone.now() - timedelta(seconds=1))  # time passed
    assert awards_screen([candidate(event) for event in stored]) == {}
    other = services.block_add(kind=BlockKind.DEVICE, device_id="d", reason="again")
    assert list(awards_screen([candidate(event) for event in stored])) == [0]
    services.block_lift(entry=other)
    assert awards_screen([candidate(event) for event in stored]) == {}


@pytest.mark.parametrize(
    ("network", "inside", "outside"),
    [
        ("10.20.0.0/16", ["10.20.0.0", "10.20.255.255", "::ffff:10.20.1.2"], ["10.21.0.0", "10.19.255.255"]),
        ("192.0.2.5", ["192.0.2.5", "::ffff:192.0.2.5"], ["192.0.2.4", "192.0.2.6"]),
        ("2001:db8:abcd::/48", ["2001:db8:abcd::1", "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff"], ["2001:db8:abce::", "10.0.0.1"]),
        ("2001:db8::42", ["2001:DB8:0:0::42"], ["2001:db8::43"]),
    ],
)
def test_cidr_and_single_address_matching_ipv4_and_ipv6(network, inside, outside):
    services.block_add(kind=BlockKind.ADDRESS, network=network, reason="range")
    member = MemberFactory()
    stored = [ActivityEventFactory(member=member, client_ip=ip) for ip in inside + outside]
    held = awards_screen([candidate(event) for event in stored])
    assert sorted(held) == list(range(len(inside)))


def test_the_blocklist_costs_one_query_per_batch(django_capture_on_commit_callbacks):
    services.block_add(kind=BlockKind.DEVICE, device_id="bad", reason="farm")
    services.block_add(kind=BlockKind.ADDRESS, network="203.0.113.0/24", reason="dc")
    stored = [ActivityEventFactory(device_id=f"d{i}", client_ip=f"198.51.100.{i}") for i in range(50)]
    with django_capture_on_commit_callbacks(execute=True):
        awards_screen([candidate(event) for event in stored])
    with CaptureQueriesContext(connection) as queries:
        assert awards_screen([candidate(event) for event in stored]) == {}
    assert len([q for q in queries.captured_queries if "abuse_blockentry" in q["sql"]]) == 1


def test_activity_without_a_device_or_address_is_not_counted_for_those_scopes():
    limit(scope=Scope.DEVICE, kind="", max_events=1)
    limit(name="addresses", scope=Scope.ADDRESS, kind="", max_events=1)
    member = MemberFactory()
    stored = events(member, minutes_ago(3, 2, 1))
    assert awards_screen([candidate(event) for event in stored]) == {}
