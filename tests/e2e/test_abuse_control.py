"""Abuse control in a real browser: an operations manager finds a device over a velocity limit on the
suspicious-activity page and blocks it (Block → confirmation page → Confirm)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.abuse import services
from apps.abuse.config import CONFIG_KEY
from apps.abuse.models import BlockEntry, BlockKind, Scope, VelocityLimit
from apps.core.roles import OPERATIONS_MANAGER
from tests.abuse.factories import events
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_blocking_a_device_from_the_suspicious_activity_page(page, login_as, screenshot):
    cache.delete(CONFIG_KEY)
    services.limit_save(
        limit=VelocityLimit(name="Sign-ins per device", scope=Scope.DEVICE, kind="sign_in", max_events=20, window_minutes=10)
    )
    now = timezone.now()
    events(MemberFactory(), [now - timedelta(seconds=20 * i) for i in range(25)], kind="sign_in", device_id="emu-farm-01")
    events(MemberFactory(), [now - timedelta(seconds=30 * i) for i in range(17)], kind="sign_in", device_id="busy-phone")
    user = login_as(OPERATIONS_MANAGER)

    page.goto("/admin/abuse/velocitylimit/")
    page.get_by_role("link", name="Suspicious activity").first.click()
    page.wait_for_url("**/admin/abuse/velocitylimit/suspicious/**")
    rows = page.locator("[data-testid=suspicious-row]")
    assert rows.count() == 2
    first = rows.nth(0)
    assert "emu-farm-01" in first.inner_text() and "Over the limit" in first.inner_text()
    assert "Close to the limit" in rows.nth(1).inner_text()
    screenshot("abuse-suspicious-activity")

    first.get_by_test_id("block-link").click()
    assert page.locator("input[name=reason]").input_value() == "Over the velocity limit “Sign-ins per device”"
    assert not BlockEntry.objects.exists()  # the confirmation page changed nothing
    page.fill("input[name=reason]", "Emulator farm")
    page.select_option("select[name=duration]", "30")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/admin/abuse/velocitylimit/suspicious/**")
    assert "is on the blocklist" in page.content()
    assert "Blocked" in page.locator("[data-testid=suspicious-row]").nth(0).inner_text()

    entry = BlockEntry.objects.get()
    assert (entry.kind, entry.device_id, entry.reason, entry.created_by_id) == (BlockKind.DEVICE, "emu-farm-01", "Emulator farm", user.pk)
    assert timedelta(days=29) < entry.until - now < timedelta(days=31)
    assert entry.history.get().history_user_id == user.pk
