"""What one points earn and one redemption cost in queries: a bound, so a change that adds a round trip shows.

The bounds count what the test database sees inside the test's transaction (an atomic block is a savepoint
here, BEGIN and COMMIT in production); the API-key lookup is cached when the shared cache is not the database.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.benefits.models import Redemption
from apps.core.models import ApiScope
from apps.members.models import PointsEntry
from tests.benefits.factories import GrantFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

SHARED_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-write-cost"}}
# client lookup, idempotency claim, account lock (with its member), ledger row with its lot and balance, stored answer
EARN_QUERIES = 5
# client lookup, idempotency claim, grant lock, grant state with its redemption, stored answer; the throttle counts in the
# cache
REDEEM_QUERIES = 5


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]


def _earn(api, member_pk: int, key: str):
    path = reverse("api-v1:points-earn", kwargs={"pk": member_pk})
    return api.post(path, {"amount": 10, "reason": "Purchase"}, HTTP_IDEMPOTENCY_KEY=key)


def _redeem(api, code: str, key: str):
    return api.post(reverse("api-v1:grant-redeem"), {"code": code, "channel": "pos", "order_ref": "POS-1"}, HTTP_IDEMPOTENCY_KEY=key)


def test_points_earn_is_one_statement_per_step(trusted_client):
    api, _client = trusted_client(scopes=[ApiScope.POINTS_WRITE])
    member = MemberFactory()
    _earn(api, member.pk, "warm-up")
    with CaptureQueriesContext(connection) as queries:
        response = _earn(api, member.pk, "earn-1")
    assert response.status_code == 201
    assert PointsEntry.objects.filter(account__member=member).count() == 2
    # The outbox asks the shared cache whether anyone subscribes to the event (Redis in production).
    cache_statements = [sql for sql in _statements(queries) if "userops_cache" in sql]
    assert len(_statements(queries)) - len(cache_statements) <= EARN_QUERIES


def test_redeem_is_one_statement_per_step(trusted_client):
    api, _client = trusted_client(scopes=[ApiScope.BENEFITS_REDEEM])
    first, grant = GrantFactory(), GrantFactory()
    _redeem(api, first.code, "warm-up")
    with CaptureQueriesContext(connection) as queries:
        response = _redeem(api, grant.code, "redeem-1")
    assert response.status_code == 201
    assert Redemption.objects.filter(grant=grant).exists()
    cache_statements = [sql for sql in _statements(queries) if "userops_cache" in sql]
    assert len(_statements(queries)) - len(cache_statements) <= REDEEM_QUERIES


def test_points_earn_and_redeem_open_no_savepoint_of_their_own(trusted_client, settings):
    """The test's transaction turns the request's BEGIN into a savepoint: that one only, as the services refuse before
    they write.

    With the shared cache in memory, as Redis is in production: the database cache takes savepoints of its own.
    """
    settings.CACHES = SHARED_CACHE
    api, _client = trusted_client(scopes=[ApiScope.POINTS_WRITE, ApiScope.BENEFITS_REDEEM])
    member, grant = MemberFactory(), GrantFactory()
    with CaptureQueriesContext(connection) as queries:
        assert _earn(api, member.pk, "earn-1").status_code == 201
        assert _redeem(api, grant.code, "redeem-1").status_code == 201
    assert len([query for query in queries.captured_queries if query["sql"].startswith("SAVEPOINT")]) == 2


def test_with_a_shared_cache_the_key_is_not_looked_up_again(trusted_client, settings):
    settings.CACHES = SHARED_CACHE
    api, _client = trusted_client(scopes=[ApiScope.POINTS_WRITE])
    member = MemberFactory()
    _earn(api, member.pk, "warm-up")
    with CaptureQueriesContext(connection) as queries:
        assert _earn(api, member.pk, "earn-1").status_code == 201
    assert not [sql for sql in _statements(queries) if "core_apiclient" in sql]
    assert len(_statements(queries)) <= EARN_QUERIES - 1


def test_a_replay_is_answered_from_the_claimed_record(trusted_client):
    api, _client = trusted_client(scopes=[ApiScope.POINTS_WRITE])
    member = MemberFactory()
    first = _earn(api, member.pk, "earn-1")
    with CaptureQueriesContext(connection) as queries:
        again = _earn(api, member.pk, "earn-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert not [sql for sql in _statements(queries) if "members_" in sql]
