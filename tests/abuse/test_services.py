"""Limits and blocklist entries: every refusal names its field and changes nothing; every change is audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.abuse import selectors, services
from apps.abuse.addresses import address_range
from apps.abuse.models import BlockEntry, BlockKind, Scope, VelocityLimit
from apps.core.errors import ApplicationError
from tests.abuse.factories import VelocityLimitFactory, events
from tests.analytics.factories import ActivityEventFactory
from tests.core.factories import UserFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def refused(code: str, field: str, call) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.code == code
    assert field in caught.value.fields
    return caught.value


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"name": " "}, "name_required", "name"),
        ({"max_events": 0}, "invalid_max_events", "max_events"),
        ({"window_minutes": 0}, "invalid_window", "window_minutes"),
        ({"window_minutes": 7 * 24 * 60 + 1}, "invalid_window", "window_minutes"),
        ({"kind": "teleport"}, "invalid_kind", "kind"),
        ({"scope": "planet"}, "invalid_scope", "scope"),
    ],
)
def test_a_bad_limit_is_refused_naming_the_field(fields, code, field):
    values = {"name": "x", "scope": Scope.DEVICE, "kind": "", "max_events": 5, "window_minutes": 10, **fields}
    refused(code, field, lambda: services.limit_save(limit=VelocityLimit(**values)))
    assert not VelocityLimit.objects.exists()


def test_limit_names_are_unique_and_changes_are_audited():
    user = UserFactory()
    saved = services.limit_save(
        limit=VelocityLimit(name="sign-ins", scope=Scope.DEVICE, kind="sign_in", max_events=20, window_minutes=10), actor=user
    )
    refused(
        "duplicate_name",
        "name",
        lambda: services.limit_save(limit=VelocityLimit(name="sign-ins", scope=Scope.MEMBER, max_events=1, window_minutes=1)),
    )
    services.limit_set_active(limit=saved, active=False, actor=user)
    history = list(saved.history.order_by("history_date"))
    assert [(h.history_type, h.active, h.history_user_id) for h in history] == [("+", True, user.pk), ("~", False, user.pk)]


def test_block_refusals_name_the_field_and_save_nothing():
    member = MemberFactory(phone="+8613800138000")
    refused("reason_required", "reason", lambda: services.block_add(kind=BlockKind.DEVICE, device_id="d", reason=" "))
    refused("device_required", "device_id", lambda: services.block_add(kind=BlockKind.DEVICE, reason="r"))
    refused("member_required", "member", lambda: services.block_add(kind=BlockKind.MEMBER, reason="r"))
    refused("invalid_address", "network", lambda: services.block_add(kind=BlockKind.ADDRESS, network="10.0.0.300", reason="r"))
    refused("network_too_broad", "network", lambda: services.block_add(kind=BlockKind.ADDRESS, network="10.0.0.0/7", reason="r"))
    refused("network_too_broad", "network", lambda: services.block_add(kind=BlockKind.ADDRESS, network="2001::/16", reason="r"))
    refused(
        "until_in_past",
        "until",
        lambda: services.block_add(kind=BlockKind.DEVICE, device_id="d", reason="r", until=timezone.now() - timedelta(minutes=1)),
    )
    refused(
        "personal_data_in_text",
        "reason",
        lambda: services.block_add(kind=BlockKind.MEMBER, member=member, reason="called 13800138000"),
    )
    assert not BlockEntry.objects.exists()


def test_one_entry_in_force_per_target_and_a_lifted_one_may_be_added_again():
    user = UserFactory()
    entry = services.block_add(kind=BlockKind.ADDRESS, network="::ffff:192.0.2.0/120", reason="dc", actor=user)
    assert (entry.network, entry.is_network, entry.created_by) == ("192.0.2.0/24", True, user)
    error = refused(
        "already_blocked", "network", lambda: services.block_add(kind=BlockKind.ADDRESS, network="192.0.2.9/24", reason="again")
    )
    assert "192.0.2.0/24" in error.message
    services.block_lift(entry=entry, actor=user)
    with pytest.raises(ApplicationError) as caught:
        services.block_lift(entry=entry)
    assert caught.value.code == "not_in_force"
    services.block_add(kind=BlockKind.ADDRESS, network="192.0.2.0/24", reason="again")
    assert [h.history_type for h in entry.history.order_by("history_date")] == ["+", "~"]


def test_bulk_add_from_a_pasted_list_skips_what_is_already_blocked():
    user = UserFactory()
    services.block_add(kind=BlockKind.DEVICE, device_id="dev-2", reason="earlier")
    result = services.blocks_add_many(kind=BlockKind.DEVICE, text="dev-1\n dev-2 \n\ndev-3, dev-4\ndev-1\n", reason="farm", actor=user)
    assert (result.added, result.already_blocked) == (3, 1)
    assert set(BlockEntry.objects.filter(reason="farm").values_list("device_id", flat=True)) == {"dev-1", "dev-3", "dev-4"}
    assert all(entry.history.get().history_user_id == user.pk for entry in BlockEntry.objects.filter(reason="farm"))


@pytest.mark.parametrize(
    ("kind", "text", "line"),
    [
        (BlockKind.ADDRESS, "192.0.2.1\n198.51.100.0/24\nnot-an-ip\n", 3),
        (BlockKind.MEMBER, "{pk}\n999999999\n", 2),
        (BlockKind.MEMBER, "{pk}\nabc\n", 2),
        (BlockKind.DEVICE, "ok\n" + "x" * 65, 2),
    ],
)
def test_bulk_add_refuses_the_whole_list_naming_the_bad_line(kind, text, line):
    member = MemberFactory()
    error = refused("invalid_line", "values", lambda: services.blocks_add_many(kind=kind, text=text.format(pk=member.pk), reason="r"))
    assert error.message.startswith(f"Line {line}:")
    assert error.fields == {"values": line}
    assert not BlockEntry.objects.exists()


def test_bulk_add_of_members_and_networks():
    first, second = MemberFactory(), MemberFactory()
    assert services.blocks_add_many(kind=BlockKind.MEMBER, text=f"{first.pk}\n{second.pk}", reason="r").added == 2
    assert selectors.member_is_blocked(member_id=first.pk)
    assert services.blocks_add_many(kind=BlockKind.ADDRESS, text="192.0.2.0/24 2001:db8::/32", reason="r").added == 2
    refused("nothing_to_block", "values", lambda: services.blocks_add_many(kind=BlockKind.DEVICE, text=" \n ", reason="r"))


def test_address_ranges_are_comparable_text():
    v4 = address_range("10.0.0.0/8")
    assert (v4.start, v4.end) == ("00000000000000000000ffff0a000000", "00000000000000000000ffff0affffff")
    assert address_range("::ffff:10.1.2.3").network == "10.1.2.3"
    v6 = address_range("2001:db8::/32")
    assert v6.start < v6.end and v6.is_network


# --- suspicious activity ---


def test_suspicious_values_shows_over_and_close_values_with_their_busiest_window():
    now = timezone.now()
    VelocityLimitFactory(name="device sign-ins", scope=Scope.DEVICE, kind="sign_in", max_events=5, window_minutes=10)
    member = MemberFactory()
    events(member, [now - timedelta(minutes=m) for m in range(6)], kind="sign_in", device_id="over")  # 6 in 10 min
    events(member, [now - timedelta(minutes=m) for m in range(4)], kind="sign_in", device_id="close")  # 4 = 80 %
    events(member, [now - timedelta(minutes=m) for m in range(3)], kind="sign_in", device_id="calm")
    # 8 events spread over 40 minutes: never more than 3 in 10 minutes.
    events(member, [now - timedelta(minutes=m * 5) for m in range(8)], kind="sign_in", device_id="spread")
    services.block_add(kind=BlockKind.DEVICE, device_id="close", reason="watch")
    rows = selectors.suspicious_values(period="hour", now=now)
    assert [(r.value, r.peak, r.over, r.blocked) for r in rows] == [("over", 6, True, False), ("close", 4, False, True)]


def test_suspicious_member_and_address_scopes_and_the_period():
    now = timezone.now()
    VelocityLimitFactory(name="posts", scope=Scope.MEMBER, kind="community_post", max_events=2, window_minutes=60)
    VelocityLimitFactory(name="address", scope=Scope.ADDRESS, kind="", max_events=2, window_minutes=60)
    member = MemberFactory()
    events(member, [now - timedelta(hours=3, minutes=m) for m in range(3)], kind="community_post", client_ip="2001:db8::7")
    assert selectors.suspicious_values(period="hour", now=now) == []
    rows = selectors.suspicious_values(period="day", now=now)
    assert {(r.scope, r.value, r.peak) for r in rows} == {(Scope.MEMBER, str(member.pk), 3), (Scope.ADDRESS, "2001:db8::7", 3)}


def test_activity_without_a_device_or_address_is_never_suspicious_for_those_scopes():
    VelocityLimitFactory(scope=Scope.DEVICE, kind="", max_events=1)
    VelocityLimitFactory(scope=Scope.ADDRESS, kind="", max_events=1)
    member = MemberFactory()
    for _ in range(5):
        ActivityEventFactory(member=member)
    assert selectors.suspicious_values(period="hour") == []


def test_a_single_event_is_never_suspicious_even_under_a_limit_of_one():
    VelocityLimitFactory(scope=Scope.MEMBER, kind="", max_events=1, window_minutes=60)
    lone, busy = MemberFactory(), MemberFactory()
    ActivityEventFactory(member=lone)
    ActivityEventFactory(member=busy)
    ActivityEventFactory(member=busy)
    assert [(row.value, row.over) for row in selectors.suspicious_values(period="hour")] == [(str(busy.pk), True)]
