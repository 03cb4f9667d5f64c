"""Batches racing for one device, through the real ingest on real connections: a velocity limit is exact."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apps.abuse import services
from apps.abuse.config import CONFIG_KEY
from apps.abuse.locks import lock_velocity_scopes, scope_lock_key
from apps.abuse.models import Scope, VelocityLimit
from apps.rules.models import AwardStatus, RuleAward
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once
from tests.rules.factories import EarningRuleFactory, event, ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

LIMIT = 5
BATCHES = 3
PER_BATCH = 4


@pytest.mark.parametrize("round_", range(3))
def test_batches_racing_on_one_device_pay_exactly_the_limit(round_):
    """Twelve sign-ins of twelve members on one device, in three racing batches, under "5 in 10 minutes": each batch
    stores its events only once the batch before it committed, so exactly five are paid and seven held."""
    cache.delete(CONFIG_KEY)
    services.limit_save(limit=VelocityLimit(name="device", scope=Scope.DEVICE, kind="sign_in", max_events=LIMIT, window_minutes=10))
    EarningRuleFactory(kind="sign_in", points=10)
    members = MemberFactory.create_batch(BATCHES * PER_BATCH)
    clients = [ApiClientFactory() for _ in range(BATCHES)]
    at = timezone.now() - timedelta(minutes=1)

    def batch(index: int) -> str:
        mine = members[index * PER_BATCH : (index + 1) * PER_BATCH]
        answer = ingest(clients[index], *[event(m, at=at, device_id="shared", event_id=f"{round_}-{index}-{m.pk}") for m in mine])
        return "stored" if answer["created"] == PER_BATCH else f"created {answer['created']}"

    assert run_at_once(batch, threads=BATCHES) == Counter({"stored": BATCHES})
    statuses = Counter(RuleAward.objects.values_list("status", flat=True))
    assert statuses == Counter({AwardStatus.PAID: LIMIT, AwardStatus.HELD: BATCHES * PER_BATCH - LIMIT})
    reasons = RuleAward.objects.filter(status=AwardStatus.HELD).values_list("hold_reasons", flat=True)
    assert {r[0] for r in reasons} == {f"device shared: {n} sign_in events in 10 minutes, limit 5" for n in range(6, 13)}


def test_scope_locks_are_one_per_scope_value_and_end_with_the_transaction():
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    scopes = [(Scope.DEVICE, "b"), (Scope.DEVICE, "a"), (Scope.ADDRESS, "10.0.0.1"), (Scope.DEVICE, "a")]
    mine = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    with transaction.atomic():
        assert lock_velocity_scopes(scopes=scopes) == 3
        with connection.cursor() as cursor:
            cursor.execute(mine)
            assert cursor.fetchone()[0] == 3
    with connection.cursor() as cursor:
        cursor.execute(mine)
        assert cursor.fetchone()[0] == 0
    assert scope_lock_key(Scope.DEVICE, "a") == scope_lock_key(Scope.DEVICE, "a") != scope_lock_key(Scope.MEMBER, "a")
