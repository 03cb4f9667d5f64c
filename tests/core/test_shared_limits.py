"""Throttles and lock-outs count in a cache every process shares: two separate cache clients see one count."""

import os

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from apps.core import rate_limits
from apps.core.api.throttling import SharedScopedRateThrottle
from apps.core.models import ApiScope
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("USEROPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/4")


def redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_the_default_cache_is_not_a_process_s_own_memory():
    assert isinstance(caches["default"], DatabaseCache | RedisCache)


@pytest.mark.parametrize(
    "backend",
    [
        {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "userops_cache"},
        pytest.param(
            {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
            marks=pytest.mark.skipif(not redis_reachable(), reason="no Redis at USEROPS_TEST_REDIS_URL"),
        ),
    ],
    ids=["database", "redis"],
)
def test_two_cache_clients_share_one_count(backend):
    """Each worker process builds its own cache client from settings; here two such clients stand for two workers."""
    with override_settings(CACHES={"default": backend}):
        first_worker = caches.create_connection("default")
        second_worker = caches.create_connection("default")
        assert first_worker is not second_worker
        first_worker.clear()
        for _ in range(3):
            first_worker.add("shared-count", 0, timeout=60)
            first_worker.incr("shared-count")
        second_worker.incr("shared-count")
        assert first_worker.get("shared-count") == second_worker.get("shared-count") == 4


def test_a_throttle_window_counts_hits_from_every_client(monkeypatch):
    clients = [caches.create_connection("default") for _ in range(2)]
    turn = iter(clients * 5)
    monkeypatch.setattr(rate_limits, "_cache", lambda: next(turn))
    counts = [rate_limits.window_hit(key="two-workers", window_seconds=3600)[0] for _ in range(10)]
    assert counts == list(range(1, 11))


@pytest.mark.skipif(not redis_reachable(), reason="no Redis at USEROPS_TEST_REDIS_URL")
def test_on_redis_a_window_is_one_counter_that_expires_with_its_window():
    backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    with override_settings(CACHES={"default": backend}):
        workers = [caches.create_connection("default") for _ in range(2)]
        workers[0].clear()
        turn = iter(workers * 3)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(rate_limits, "_cache", lambda: next(turn))
            counts = [rate_limits.window_hit(key="redis-window", window_seconds=3600)[0] for _ in range(6)]
        assert counts == list(range(1, 7))
        (window_key,) = workers[0]._cache.get_client().keys("*rate:redis-window:*")
        assert 3590 <= workers[0]._cache.get_client().ttl(window_key) <= 3601
        assert workers[1].get(window_key.decode().split(":", 2)[2]) == 6


def test_token_issue_is_refused_past_its_rate(api, monkeypatch):
    monkeypatch.setattr(
        SharedScopedRateThrottle, "THROTTLE_RATES", {**SharedScopedRateThrottle.THROTTLE_RATES, "member_token_issue": "3/hour"}
    )
    client = ApiClientFactory(scopes=[ApiScope.MEMBER_TOKENS])
    api.credentials(HTTP_X_API_KEY=client.raw_key)
    member = MemberFactory()
    answers = [api.post("/api/v1/member-tokens/", {"member_id": member.pk}, format="json") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert int(answers[-1]["Retry-After"]) > 0
