"""Every kind of API caller gets an answer, never a server error, and member tokens live no longer than their client."""

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.core import services as core_services
from apps.core.models import ApiScope
from tests.core.factories import ApiClientFactory, UserFactory
from tests.members.factories import MemberFactory, MemberTokenFactory

pytestmark = pytest.mark.django_db

PLACEHOLDER = re.compile(r"<(?:\w+:)?\w+>")


def api_routes(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            yield "/" + PLACEHOLDER.sub("1", route)


def member_api() -> APIClient:
    token = MemberTokenFactory(member=MemberFactory())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
    return api


def test_metrics_with_a_member_token_is_refused_not_a_server_error():
    api = member_api()
    assert api.get("/api/v1/metrics/").status_code == 403
    assert api.get("/api/v1/metrics/daily/").status_code == 403


def unscoped_api() -> APIClient:
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=ApiClientFactory(scopes=[]).raw_key)
    return api


def staff_session_api() -> APIClient:
    api = APIClient()
    api.force_login(UserFactory(username="plain-staff"))
    return api


def test_every_api_url_answers_every_kind_of_caller_without_a_server_error():
    """A fresh caller per request: a member token revoked by one call must not hide the next call's answer."""
    callers = {"member token": member_api, "key without scopes": unscoped_api, "staff session": staff_session_api, "anonymous": APIClient}
    routes = sorted(set(api_routes(get_resolver().url_patterns)))
    assert "/api/v1/metrics/" in routes
    answers = {}
    for name, make_caller in callers.items():
        for route in routes:
            for method in ("get", "post"):
                answers[name, method, route] = getattr(make_caller(), method)(route, {}, format="json").status_code
    assert [call for call, status in answers.items() if status >= 500] == []


def test_member_tokens_die_with_the_api_client_that_obtained_them():
    issuer = ApiClientFactory(scopes=[ApiScope.MEMBER_TOKENS])
    token = MemberTokenFactory(client=issuer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
    assert api.get("/api/v1/me/").status_code == 200
    core_services.api_client_update(client=issuer, name=issuer.name, scopes=issuer.scopes, is_active=False)
    refused = api.get("/api/v1/me/")
    assert refused.status_code == 401
    assert api.get("/api/v1/me/points/").status_code == 401


class TestCachedKeyLookup:
    """With a shared cache the key lookup is cached; a revoked or rotated key is still refused at once."""

    SHARED_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-keys"}}

    @pytest.fixture(autouse=True)
    def shared_cache(self, settings):
        settings.CACHES = self.SHARED_CACHE

    def test_revoked_key_is_refused_at_once(self, trusted_client):
        api, client = trusted_client(scopes=[ApiScope.MEMBERS_READ])
        assert api.get("/api/v1/members/").status_code == 200
        core_services.api_client_update(client=client, name=client.name, scopes=client.scopes, is_active=False)
        assert api.get("/api/v1/members/").status_code == 401

    def test_deactivated_by_a_plain_save_is_refused_at_once(self, trusted_client):
        api, client = trusted_client(scopes=[ApiScope.MEMBERS_READ])
        assert api.get("/api/v1/members/").status_code == 200
        client.is_active = False
        client.save()
        assert api.get("/api/v1/members/").status_code == 401

    def test_rotated_key_is_refused_at_once_and_the_new_one_works(self, trusted_client):
        api, client = trusted_client(scopes=[ApiScope.MEMBERS_READ])
        assert api.get("/api/v1/members/").status_code == 200
        new_key = core_services.api_client_rotate_key(client=client)
        assert api.get("/api/v1/members/").status_code == 401
        api.credentials(HTTP_X_API_KEY=new_key)
        assert api.get("/api/v1/members/").status_code == 200

    def test_a_narrowed_scope_applies_at_once(self, trusted_client):
        api, client = trusted_client(scopes=[ApiScope.MEMBERS_READ])
        assert api.get("/api/v1/members/").status_code == 200
        core_services.api_client_update(client=client, name=client.name, scopes=[ApiScope.POINTS_WRITE], is_active=True)
        assert api.get("/api/v1/members/").status_code == 403
