"""Browser tests: Playwright driving Debian's Chromium (no browser download) against a live server."""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apps.core.models import User
from tests.core.factories import UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop in this thread

CHROMIUM = os.environ.get("USEROPS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The README's screenshots are refreshed on request (`make screenshots`), so a test run leaves the checkout clean.
REFRESH_README_SCREENSHOTS = os.environ.get("USEROPS_README_SCREENSHOTS") == "1"
PASSWORD = "e2e-password-that-is-long"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings: object) -> None:
    """Every sign-in hashes a password twice; the production hasher's cost buys nothing in a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (.ci/run installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


DESKTOP = {"viewport": {"width": 1400, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
def open_page(browser: object, live_server: object) -> Iterator[Callable[..., object]]:
    """A new page in its own browser context (cookies, viewport) on the one shared browser; ``PHONE`` for a phone."""
    contexts = []
    violations: list[str] = []

    def open_(device: dict | None = None) -> object:
        context = browser.new_context(**(device or DESKTOP), locale="en-US", base_url=live_server.url)
        # The back office must work offline: anything not served by the live server is refused, not fetched.
        context.route(lambda url: not url.startswith(live_server.url), lambda route: route.abort())
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        # The content security policy must not get in the back office's way: any violation fails the test.
        page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert violations == [], violations


@pytest.fixture
def page(open_page: Callable[..., object]) -> object:
    return open_page()


@pytest.fixture
def login_as(request: pytest.FixtureRequest) -> Callable[..., User]:
    """Sign in through the login form, on ``on`` (a page from ``open_page``) or on the test's ``page``."""

    def login(role: str | None = None, *, username: str | None = None, superuser: bool = False, on: object | None = None) -> User:
        page_ = on or request.getfixturevalue("page")
        user = UserFactory(
            username=username or f"e2e-{(role or 'admin').split()[0].lower()}", role=role, is_superuser=superuser, password=PASSWORD
        )
        user.set_password(PASSWORD)
        user.save()
        page_.goto("/admin/login/")
        page_.fill("input[name=username]", user.username)
        page_.fill("input[name=password]", PASSWORD)
        page_.locator("#login-form button[type=submit], #login-form input[type=submit], form button[type=submit]").first.click()
        page_.wait_for_url(lambda url: not url.rstrip("/").endswith("login") and "/login/" not in url)
        return user

    return login


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    def take(name: str, *, readme: bool = False, on: object | None = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        target = on or request.getfixturevalue("page")
        # Grow the viewport to the whole page rather than stitching a full-page shot: Unfold's fixed sidebar and
        # sticky save bar then stay where staff see them.
        size = target.viewport_size
        height = target.evaluate("document.documentElement.scrollHeight")
        target.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 6000))})
        target.screenshot(path=str(path))
        target.set_viewport_size(size)
        if readme and REFRESH_README_SCREENSHOTS:
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SCREENSHOTS / f"{name}.png")
        return path

    return take
