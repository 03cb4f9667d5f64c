"""Two batches racing for one device, on real connections: what docs/rules.md says about racing batches."""

import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.abuse import services
from apps.abuse.config import CONFIG_KEY
from apps.abuse.models import Scope, VelocityLimit
from apps.core.awards import awards_screen
from tests.abuse.factories import candidate
from tests.analytics.factories import ActivityEventFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_racing_batches_each_count_what_is_committed_and_a_later_batch_counts_both():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL")
    cache.delete(CONFIG_KEY)
    services.limit_save(limit=VelocityLimit(name="device", scope=Scope.DEVICE, kind="sign_in", max_events=3, window_minutes=10))
    awards_screen([candidate(ActivityEventFactory(kind="app_open"))])  # the configuration is in the shared cache
    members = [MemberFactory(), MemberFactory()]
    now = timezone.now()
    stored = threading.Barrier(2)
    answers: dict[int, object] = {}

    def batch(index: int) -> None:
        try:
            with transaction.atomic():
                events = [
                    ActivityEventFactory(
                        member=members[index], kind="sign_in", device_id="shared", occurred_at=now - timedelta(minutes=3 - i)
                    )
                    for i in range(3)
                ]
                stored.wait(timeout=20)  # both batches stored, neither committed
                answers[index] = awards_screen([candidate(event) for event in events])
                stored.wait(timeout=20)  # both screened before either commits
        except Exception as exc:  # reported by the assertion below
            answers[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=batch, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each saw its own three events only: six paid in one window, twice the limit.
    assert answers == {0: {}, 1: {}}
    later = ActivityEventFactory(member=members[0], kind="sign_in", device_id="shared", occurred_at=now)
    assert awards_screen([candidate(later)]) == {0: ["device shared: 7 sign_in events in 10 minutes, limit 3"]}
