from django.core.cache import caches
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.core.api_keys import API_CLIENT_CACHE_SECONDS, api_client_cache_in_use, api_client_cache_key
from apps.core.models import ApiClient, hash_secret

LAST_USED_RESOLUTION_SECONDS = 60


def active_api_client(*, key_hash: str) -> ApiClient | None:
    if not api_client_cache_in_use():
        return ApiClient.objects.filter(key_hash=key_hash, is_active=True).first()
    cache = caches["default"]
    client = cache.get(api_client_cache_key(key_hash))
    if client is None:
        client = ApiClient.objects.filter(key_hash=key_hash, is_active=True).first()
        if client is not None:
            cache.set(api_client_cache_key(key_hash), client, API_CLIENT_CACHE_SECONDS)
    return client


def api_client_remember(client: ApiClient) -> None:
    """Refresh the cached copy after a change the lookup may use (its last use)."""
    if api_client_cache_in_use():
        caches["default"].set(api_client_cache_key(client.key_hash), client, API_CLIENT_CACHE_SECONDS)


def authorization_credentials(request: Request, scheme: str) -> str | None:
    """The credentials of an ``Authorization: <scheme> <credentials>`` header; None when it names another scheme."""
    name, _sep, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if name == scheme else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``X-Api-Key: <key>`` (or ``Authorization: Api-Key <key>``) identifies a trusted system."""

    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiClient] | None:
        raw = request.headers.get("X-Api-Key")
        if raw is None:
            raw = authorization_credentials(request, self.keyword)
            if raw is None:
                return None
        raw = raw.strip()
        if not raw:
            raise exceptions.AuthenticationFailed(_("Empty API key."))
        client = active_api_client(key_hash=hash_secret(raw))
        if client is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        now = timezone.now()
        if client.last_used_at is None or (now - client.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
            client.last_used_at = now
            api_client_remember(client)
        return client, client

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
