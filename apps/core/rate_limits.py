"""Counters shared by every web process: API throttles and the staff sign-in guard count here.

They live in the ``default`` cache, which settings make Redis when configured and the database otherwise, never a
process's own memory: two workers (or two machines) behind one load balancer see one count.
"""

import time

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache


def _cache() -> BaseCache:
    return caches["default"]


def counter_add(*, key: str, timeout_seconds: int) -> int:
    """Add one to the counter ``key`` and keep it ``timeout_seconds`` from now; returns the new count."""
    cache = _cache()
    cache.add(key, 0, timeout=timeout_seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # it expired between add and incr
        cache.add(key, 1, timeout=timeout_seconds)
        count = 1
    cache.touch(key, timeout=timeout_seconds)
    return count


def counter_get(*, key: str) -> int:
    return int(_cache().get(key) or 0)


def counter_clear(*, key: str) -> None:
    _cache().delete(key)


def window_hit(*, key: str, window_seconds: int) -> tuple[int, int]:
    """Count one hit in the current fixed window of ``window_seconds``; returns the count and seconds left in the window."""
    now = time.time()
    window = int(now // window_seconds)
    cache = _cache()
    window_key = f"rate:{key}:{window}"
    if isinstance(cache, RedisCache):
        count = _redis_incr(cache, key=window_key, timeout_seconds=window_seconds + 1)
    else:
        cache.add(window_key, 0, timeout=window_seconds + 1)
        try:
            count = cache.incr(window_key)
        except ValueError:
            cache.add(window_key, 1, timeout=window_seconds + 1)
            count = 1
    return count, int((window + 1) * window_seconds - now) + 1


def _redis_incr(cache: RedisCache, *, key: str, timeout_seconds: int) -> int:
    """INCR and EXPIRE NX in one MULTI: one round trip instead of the two of ``add`` then ``incr``, on every throttled
    request. The INCR creates the counter and only the first hit sets its expiry, as ``add`` would. Django's cache has
    no pipeline, hence its client; it stores integers unpickled, so ``get`` and ``incr`` read this same counter.
    """
    cache_key = cache.make_and_validate_key(key)
    pipeline = cache._cache.get_client(cache_key, write=True).pipeline()
    pipeline.incr(cache_key)
    pipeline.expire(cache_key, timeout_seconds, nx=True)
    count, _expiry_set = pipeline.execute()
    return count
