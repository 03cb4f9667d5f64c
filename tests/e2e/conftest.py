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


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (.ci/run installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object, live_server: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    # The content security policy must not get in the back office's way: any violation fails the test.
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert violations == [], violations


@pytest.fixture
def login_as(page: object) -> Callable[..., User]:
    def login(role: str | None = None, *, username: str | None = None, superuser: bool = False) -> User:
        user = UserFactory(
            username=username or f"e2e-{(role or 'admin').split()[0].lower()}", role=role, is_superuser=superuser, password=PASSWORD
        )
        user.set_password(PASSWORD)
        user.save()
        page.goto("/admin/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        page.locator("#login-form button[type=submit], #login-form input[type=submit], form button[type=submit]").first.click()
        page.wait_for_url(lambda url: not url.rstrip("/").endswith("login") and "/login/" not in url)
        return user

    return login


@pytest.fixture
def screenshot(page: object) -> Callable[[str], Path]:
    def take(name: str, *, readme: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if readme:
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SCREENSHOTS / f"{name}.png")
        return path

    return take
