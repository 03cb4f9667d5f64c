"""The API-key lookup's entries in the shared cache: every trusted-system request needs the lookup, keys change rarely.

An entry is the active client whose key has that SHA-256. Saving or deleting a client forgets the entries of its
old and new key, at once and again when the transaction commits, so a revoked or rotated key is refused by every
process from the next request on; ``API_CLIENT_CACHE_SECONDS`` bounds how long an entry written by a request that
read the client just before a revocation committed can outlive it. A database cache would turn one query into
several, so without Redis (or another shared cache) the lookup goes to the table directly. The lookup itself is
``apps.core.api.authentication.active_api_client``; this module needs no model, so ``ApiClient.save()`` can use it.
"""

from collections.abc import Iterable

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import transaction

API_CLIENT_CACHE_SECONDS = 60


def api_client_cache_key(key_hash: str) -> str:
    return f"api-client:{key_hash}"


def api_client_cache_in_use() -> bool:
    return not isinstance(caches["default"], DatabaseCache)


def api_clients_forget(*, key_hashes: Iterable[str]) -> None:
    if not api_client_cache_in_use():
        return
    keys = [api_client_cache_key(key_hash) for key_hash in set(key_hashes) if key_hash]

    def forget() -> None:
        caches["default"].delete_many(keys)

    forget()
    transaction.on_commit(forget)
