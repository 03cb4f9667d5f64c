"""What a person meets when the guards act: a locked sign-in (in English and 中文) lifted by a superuser, and a state
change that asks before it acts."""

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from apps.core.roles import OPERATIONS_MANAGER
from apps.events.models import Event, EventStatus
from tests.core.factories import UserFactory
from tests.e2e.conftest import DESKTOP, PASSWORD
from tests.events.factories import EventFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def forget_sign_in_failures() -> Iterator[None]:
    """The cache table outlives a transactional test's flush: leave no lock-out behind for the next browser test."""
    yield
    cache.clear()


def try_sign_in(page: object, username: str, password: str) -> None:
    page.goto("/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.locator("form button[type=submit]").first.click()


@pytest.mark.parametrize(
    ("locale", "locked_message", "unlocked_message"),
    [
        ("en-US", "Too many failed sign-ins for this account or from this address.", "lin.wei can sign in again."),
        ("zh-CN", "该账号或该地址登录失败次数过多。", "lin.wei 可以重新登录了。"),
    ],
)
def test_a_locked_sign_in_is_explained_and_a_superuser_lifts_it(
    browser, live_server, open_page, login_as, screenshot, locale, locked_message, unlocked_message
):
    staff = UserFactory(username="lin.wei", role=OPERATIONS_MANAGER, password=PASSWORD)
    staff.set_password(PASSWORD)
    staff.save()
    context = browser.new_context(**DESKTOP, locale=locale, base_url=live_server.url)
    guessing = context.new_page()
    for _ in range(5):
        try_sign_in(guessing, "lin.wei", "wrong password")
    try_sign_in(guessing, "lin.wei", PASSWORD)
    guessing.get_by_text(locked_message).wait_for()
    assert "/login/" in guessing.url
    screenshot(f"sign-in-locked-{locale}", on=guessing)

    admin_page = open_page()
    root = login_as(username="e2e-root", superuser=True, on=admin_page)
    if locale == "zh-CN":
        root.language = "zh-hans"
        root.save()
    admin_page.goto(f"/admin/core/user/{staff.pk}/change/")
    admin_page.locator(f"a[href$='/user/{staff.pk}/unlock-sign-in/']").first.click()
    admin_page.locator("button[name=confirm]").wait_for()
    screenshot(f"sign-in-unlock-confirm-{locale}", on=admin_page)
    with admin_page.expect_navigation():
        admin_page.locator("button[name=confirm]").click()
    admin_page.get_by_text(unlocked_message).wait_for()

    try_sign_in(guessing, "lin.wei", PASSWORD)
    assert "/login/" not in guessing.url
    context.close()


def test_publishing_an_event_asks_first_and_a_link_from_elsewhere_changes_nothing(page, login_as, screenshot):
    event = EventFactory(status=EventStatus.DRAFT)
    login_as(OPERATIONS_MANAGER)
    page.goto(f"/admin/events/event/{event.pk}/publish/")  # what a link on another site would open
    page.get_by_text("Members see the event and can register once registration opens.").wait_for()
    assert Event.objects.get(pk=event.pk).status == EventStatus.DRAFT
    screenshot("event-publish-confirm")
    page.goto(f"/admin/events/event/{event.pk}/change/")
    page.locator(f"a[href$='/event/{event.pk}/publish/']").first.click()
    page.get_by_role("heading", name="Publish event").wait_for()
    with page.expect_navigation():
        page.locator("button[name=confirm]").click()
    page.get_by_text("The event is published.").wait_for()
    assert Event.objects.get(pk=event.pk).status == EventStatus.PUBLISHED
