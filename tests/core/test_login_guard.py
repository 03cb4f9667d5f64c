"""Staff sign-in: wrong passwords lock the account and the address; the lock is logged and a superuser can lift it."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.core import services
from apps.core.models import AccessAction, AccessLogEntry
from apps.core.roles import OPERATIONS_MANAGER
from tests.core.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN_URL = "/admin/login/"


def sign_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_a_hundred_wrong_passwords_lock_the_account_and_the_right_one_then_fails(client):
    UserFactory(username="lin.wei")
    for _ in range(100):
        sign_in(client, "lin.wei", "guess")
    response = sign_in(client, "lin.wei", PASSWORD)
    assert not signed_in(client)
    assert "Too many failed sign-ins" in response.content.decode()
    failures = AccessLogEntry.objects.filter(action=AccessAction.LOGIN_FAILED, object_id="lin.wei")
    assert failures.count() == 5, "once locked, attempts are refused before any password is checked"
    assert set(failures.values_list("ip", flat=True)) == {"203.0.113.7"}
    assert AccessLogEntry.objects.filter(action=AccessAction.LOGIN_LOCKED, object_id="lin.wei", detail="account").exists()


def test_the_lock_holds_from_another_address_and_other_accounts_still_sign_in(client):
    UserFactory(username="lin.wei")
    UserFactory(username="zhao.min")
    for _ in range(5):
        sign_in(client, "lin.wei", "guess", address="198.51.100.1")
    sign_in(client, "lin.wei", PASSWORD, address="198.51.100.2")
    assert not signed_in(client)
    sign_in(client, "zhao.min", PASSWORD, address="198.51.100.3")
    assert signed_in(client)


def test_many_accounts_tried_from_one_address_lock_that_address(client):
    UserFactory(username="zhao.min")
    for attempt in range(20):
        sign_in(client, f"guess-{attempt}", "guess", address="192.0.2.9")
    response = sign_in(client, "zhao.min", PASSWORD, address="192.0.2.9")
    assert not signed_in(client) and "Too many failed sign-ins" in response.content.decode()
    assert AccessLogEntry.objects.filter(action=AccessAction.LOGIN_LOCKED, detail="address", ip="192.0.2.9").count() == 1
    sign_in(client, "zhao.min", PASSWORD, address="192.0.2.10")
    assert signed_in(client)


def test_a_right_password_before_the_limit_signs_in_and_forgets_the_failures(client):
    UserFactory(username="lin.wei")
    for _ in range(4):
        sign_in(client, "lin.wei", "guess")
    sign_in(client, "lin.wei", PASSWORD)
    assert signed_in(client)
    client.logout()
    for _ in range(4):
        sign_in(client, "lin.wei", "guess")
    sign_in(client, "lin.wei", PASSWORD)
    assert signed_in(client)


def test_the_management_command_unlocks_an_account_and_an_address(client):
    UserFactory(username="lin.wei")
    for _ in range(5):
        sign_in(client, "lin.wei", "guess")
    call_command("unlock_staff_login", username="lin.wei")
    sign_in(client, "lin.wei", PASSWORD)
    assert signed_in(client)
    assert AccessLogEntry.objects.filter(action=AccessAction.LOGIN_UNLOCKED, object_id="lin.wei").exists()
    for attempt in range(20):
        sign_in(client, f"guess-{attempt}", "guess", address="192.0.2.9")
    assert services.staff_login_locked(username="anyone", ip="192.0.2.9")
    call_command("unlock_staff_login", ip="192.0.2.9")
    assert not services.staff_login_locked(username="anyone", ip="192.0.2.9")
    with pytest.raises(CommandError, match="Name an account or a client address"):
        call_command("unlock_staff_login")


def test_a_superuser_unlocks_an_account_from_the_back_office_with_a_post(client):
    locked = UserFactory(username="lin.wei")
    for _ in range(5):
        sign_in(client, "lin.wei", "guess")
    url = reverse("admin:core_user_unlock_sign_in", args=[locked.pk])
    client.force_login(UserFactory(username="manager", role=OPERATIONS_MANAGER))
    assert client.get(url).status_code == 403
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    assert "Sign-in is locked after repeated wrong passwords." in client.get(url).content.decode()
    assert services.staff_login_locked(username="lin.wei", ip=None)
    client.post(url)
    assert not services.staff_login_locked(username="lin.wei", ip=None)
    entry = AccessLogEntry.objects.get(action=AccessAction.LOGIN_UNLOCKED)
    assert (entry.user, entry.object_id) == (root, "lin.wei")


def test_an_auditor_reads_the_sign_in_failures_in_the_access_log(client):
    UserFactory(username="lin.wei")
    sign_in(client, "lin.wei", "guess")
    client.force_login(UserFactory(username="root", is_superuser=True))
    page = client.get(reverse("admin:core_accesslogentry_changelist")).content.decode()
    assert "Failed staff sign-in" in page and "lin.wei" in page
