"""The API-key lookup, cached in the shared cache: every trusted-system request needs it, keys change rarely.

An entry is the active client whose key has that SHA-256. Saving or deleting a client forgets the entries of its
old and new key, at once and again when the transaction commits, so a revoked or rotated key is refused by every
process from the next request on; ``API_CLIENT_CACHE_SECONDS`` bounds how long an entry written by a request that
read the client just before a revocation committed can outlive it. A database cache would turn one query into
several, so without Redis (or another shared cache) the lookup goes to the table directly.
"""

from collections.abc import Iterable

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import transaction

from apps.core.models import ApiClient

API_CLIENT_CACHE_SECONDS = 60


def _cache_key(key_hash: str) -> str:
    return f"api-client:{key_hash}"


def _caching() -> bool:
    return not isinstance(caches["default"], DatabaseCache)


def active_api_client(*, key_hash: str) -> ApiClient | None:
    if not _caching():
        return ApiClient.objects.filter(key_hash=key_hash, is_active=True).first()
    cache = caches["default"]
    client = cache.get(_cache_key(key_hash))
    if client is None:
        client = ApiClient.objects.filter(key_hash=key_hash, is_active=True).first()
        if client is not None:
            cache.set(_cache_key(key_hash), client, API_CLIENT_CACHE_SECONDS)
    return client


def api_client_remember(client: ApiClient) -> None:
    """Refresh the cached copy after a change the lookup may use (its last use)."""
    if _caching():
        caches["default"].set(_cache_key(client.key_hash), client, API_CLIENT_CACHE_SECONDS)


def api_clients_forget(*, key_hashes: Iterable[str]) -> None:
    if not _caching():
        return
    keys = [_cache_key(key_hash) for key_hash in set(key_hashes) if key_hash]

    def forget() -> None:
        caches["default"].delete_many(keys)

    forget()
    transaction.on_commit(forget)
