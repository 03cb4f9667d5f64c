"""The abuse-control back office: who sees and changes what, forms that refuse with the field, the suspicious-activity
page and its block (GET asks, POST blocks), the bulk add, lifting, and the member page's blocklist section."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.abuse import services
from apps.abuse.models import BlockEntry, BlockKind, Scope, VelocityLimit
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from tests.abuse.factories import VelocityLimitFactory, events
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

LIMITS = "admin:abuse_velocitylimit_changelist"
BLOCKS = "admin:abuse_blockentry_changelist"


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CUSTOMER_SERVICE])
def test_operations_and_customer_service_read_limits_blocklist_and_suspicious_activity(client, staff, role):
    VelocityLimitFactory(name="device sign-ins")
    services.block_add(kind=BlockKind.DEVICE, device_id="emu-1", reason="farm")
    client.force_login(staff(role))
    assert "device sign-ins" in client.get(reverse(LIMITS)).content.decode()
    assert "emu-1" in client.get(reverse(BLOCKS)).content.decode()
    assert client.get(reverse("admin:abuse_suspicious")).status_code == 200


@pytest.mark.parametrize("role", [CAMPAIGN_MANAGER, ANALYST, AUDITOR])
def test_other_roles_see_nothing_of_abuse_control(client, staff, role):
    client.force_login(staff(role))
    assert client.get(reverse(LIMITS)).status_code == 403
    assert client.get(reverse(BLOCKS)).status_code == 403
    assert client.get(reverse("admin:abuse_suspicious")).status_code == 403


def test_customer_service_cannot_change_anything(client, staff):
    VelocityLimitFactory()
    entry = services.block_add(kind=BlockKind.DEVICE, device_id="emu-1", reason="farm")
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.post(reverse("admin:abuse_velocitylimit_add"), {"name": "x"}).status_code == 403
    assert client.post(reverse("admin:abuse_blockentry_add"), {"kind": "device", "device_id": "x", "reason": "r"}).status_code == 403
    assert client.get(reverse("admin:abuse_suspicious_block"), {"scope": "device", "value": "d"}).status_code == 403
    assert client.post(reverse("admin:abuse_blockentry_lift", args=[entry.pk])).status_code == 403
    assert client.post(reverse("admin:abuse_blockentry_bulk_add"), {"kind": "device", "values": "a", "reason": "r"}).status_code == 403
    assert BlockEntry.objects.count() == 1


def test_operations_manager_creates_a_limit_and_a_refused_one_shows_the_error_on_its_field(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:abuse_velocitylimit_add")
    values = {"name": "device sign-ins", "scope": "device", "kind": "sign_in", "max_events": "20", "window_minutes": "10", "active": "on"}
    assert client.post(url, values).status_code == 302
    limit = VelocityLimit.objects.get()
    assert (limit.max_events, limit.history.get().history_user_id is not None) == (20, True)
    page = client.post(url, {**values, "name": "too long", "window_minutes": "20000"})
    assert page.status_code == 200
    assert "Ensure this value is less than or equal to 10080." in page.content.decode()
    assert VelocityLimit.objects.count() == 1


def test_adding_a_block_in_the_form_and_a_bad_network_is_a_form_error(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:abuse_blockentry_add")
    page = client.post(url, {"kind": "address", "network": "300.1.1.1", "reason": "dc"})
    assert page.status_code == 200
    assert "is not an IP address or a network in CIDR form" in page.content.decode()
    assert not BlockEntry.objects.exists()
    assert client.post(url, {"kind": "address", "network": "203.0.113.0/24", "reason": "dc"}).status_code == 302
    assert BlockEntry.objects.get().range_start.endswith("cb007100")


def test_bulk_add_page_asks_then_adds_and_a_bad_line_is_named(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:abuse_blockentry_bulk_add")
    assert client.get(url).status_code == 200
    page = client.post(url, {"kind": "address", "values": "192.0.2.1\nnope", "reason": "dc"})
    assert "Line 2:" in page.content.decode()
    assert not BlockEntry.objects.exists()
    done = client.post(url, {"kind": "address", "values": "192.0.2.1\n198.51.100.0/24", "reason": "dc"}, follow=True)
    assert "2 added to the blocklist; 0 already on it." in done.content.decode()
    assert BlockEntry.objects.count() == 2


def test_lifting_a_block_is_a_confirmed_post(client, staff):
    entry = services.block_add(kind=BlockKind.DEVICE, device_id="emu-1", reason="farm")
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:abuse_blockentry_lift", args=[entry.pk])
    assert client.get(url).status_code == 200
    entry.refresh_from_db()
    assert entry.until is None  # GET changed nothing
    assert client.post(url).status_code == 302
    entry.refresh_from_db()
    assert entry.until is not None and entry.until <= timezone.now()
    assert "already ended" in client.get(url).content.decode()


def test_suspicious_page_lists_an_over_limit_device_and_blocks_it_on_confirmation(client, staff):
    limit = VelocityLimitFactory(name="device sign-ins", scope=Scope.DEVICE, kind="sign_in", max_events=3, window_minutes=10)
    now = timezone.now()
    events(MemberFactory(), [now - timedelta(minutes=m) for m in range(5)], kind="sign_in", device_id="emu-9")
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:abuse_suspicious")).content.decode()
    assert "emu-9" in page and "Over the limit" in page and "5 in 10 min (limit 3)" in page
    block_url = reverse("admin:abuse_suspicious_block")
    query = {"scope": "device", "value": "emu-9", "limit": limit.pk, "period": "hour"}
    confirm = client.get(block_url, query)
    assert "Over the velocity limit “device sign-ins”" in confirm.content.decode()
    assert not BlockEntry.objects.exists()
    full_url = f"{block_url}?scope=device&value=emu-9&limit={limit.pk}&period=hour"
    refused = client.post(full_url, {"reason": "", "duration": "7"})
    assert refused.status_code == 200 and not BlockEntry.objects.exists()
    done = client.post(full_url, {"reason": "emulator farm", "duration": "1"})
    assert done.status_code == 302
    entry = BlockEntry.objects.get()
    assert (entry.kind, entry.device_id, entry.reason) == (BlockKind.DEVICE, "emu-9", "emulator farm")
    assert timedelta(hours=23) < entry.until - now < timedelta(hours=25)
    again = client.get(reverse("admin:abuse_suspicious")).content.decode()
    assert "Blocked" in again and 'data-testid="block-link"' not in again
    twice = client.post(full_url, {"reason": "again", "duration": "1"})
    assert "already on the blocklist" in twice.content.decode()


def test_blocking_a_member_from_the_suspicious_page_and_the_member_page_shows_it(client, staff):
    VelocityLimitFactory(name="member posts", scope=Scope.MEMBER, kind="community_post", max_events=1, window_minutes=60)
    member = MemberFactory()
    events(member, [timezone.now() - timedelta(minutes=m) for m in range(3)], kind="community_post")
    client.force_login(staff(OPERATIONS_MANAGER))
    assert f"#{member.pk}" in client.get(reverse("admin:abuse_suspicious")).content.decode()
    url = f"{reverse('admin:abuse_suspicious_block')}?scope=member&value={member.pk}"
    assert client.post(url, {"reason": "post spam", "duration": ""}).status_code == 302
    assert BlockEntry.objects.get(member=member).until is None
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert 'data-testid="member-blocked"' in page and "post spam" in page
    missing = f"{reverse('admin:abuse_suspicious_block')}?scope=member&value=999999999"
    assert client.get(missing).status_code == 404


def test_member_page_without_blocks_says_so(client, staff):
    member = MemberFactory()
    client.force_login(staff(CUSTOMER_SERVICE))
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "Not on the blocklist." in page and 'data-testid="member-blocked"' not in page


def test_the_pages_and_a_hold_reason_speak_chinese(client, staff):
    from django.utils import translation

    from apps.core.awards import awards_screen
    from tests.abuse.factories import candidate

    VelocityLimitFactory(name="设备签到", scope=Scope.DEVICE, kind="sign_in", max_events=1, window_minutes=10)
    stored = events(MemberFactory(), [timezone.now() - timedelta(minutes=m) for m in (2, 1)], kind="sign_in", device_id="emu")
    user = staff(OPERATIONS_MANAGER)
    client.force_login(user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    page = client.get(reverse("admin:abuse_suspicious")).content.decode()
    assert "可疑行为" in page and "已超限" in page and "封禁" in page
    assert "黑名单" in client.get(reverse(BLOCKS)).content.decode()
    with translation.override("zh-hans"):
        held = awards_screen([candidate(event) for event in stored])
    assert held == {1: ["设备 emu：10 分钟内 2 次 sign_in 行为，上限 1"]}
