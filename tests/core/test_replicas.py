"""Read routing: reads that tolerate lag go to a healthy replica, everything else to the primary.

The first tests run everywhere (no replica configured: every query stays on the primary). The rest run in
`make test-replica`, which starts a real streaming replica of the test server and points `DATABASE_REPLICA_URLS` at it.
"""

import os
import threading
import time

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router, transaction
from django.test import override_settings

from apps.core import replicas
from apps.core.replicas import PrimaryReplicaRouter, replica_reads
from apps.members.models import Member
from tests.members.factories import MemberFactory

REPLICA_PORT = os.environ.get("USEROPS_TEST_REPLICA_PORT")
needs_replica = pytest.mark.skipif(not REPLICA_PORT, reason="needs the streaming replica of `make test-replica`")


@pytest.mark.skipif(bool(REPLICA_PORT), reason="a replica is configured in this run")
def test_without_replicas_every_read_and_write_stays_on_the_primary():
    routing = PrimaryReplicaRouter()
    with replica_reads():
        assert routing.db_for_read(Member) == DEFAULT_DB_ALIAS
    assert routing.db_for_write(Member) == DEFAULT_DB_ALIAS
    assert routing.allow_migrate(DEFAULT_DB_ALIAS, "members") is True
    assert routing.allow_migrate("replica_1", "members") is False


def test_the_replica_switch_is_per_call_even_when_a_decorated_function_runs_in_many_threads():
    seen: list[bool] = []

    @replica_reads()
    def inside() -> None:
        time.sleep(0.05)
        seen.append(replicas._reads_from_replica.get())

    threads = [threading.Thread(target=inside) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [True] * 8
    assert replicas._reads_from_replica.get() is False


# With a real streaming replica ----------------------------------------------------------------------------------


@pytest.fixture
def replica():
    """replica_1 pointed at the real replica, which streams the test database from the primary."""
    assert "replica_1" in connections, "make test-replica sets DATABASE_REPLICA_URLS"
    connections["replica_1"].close()
    connections["replica_1"].settings_dict = {**connections[DEFAULT_DB_ALIAS].settings_dict, "PORT": REPLICA_PORT}
    replicas.forget_replica_health()
    yield connections["replica_1"]
    with connections["replica_1"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    connections["replica_1"].close()
    replicas.forget_replica_health()


def _replicated(member_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not Member.objects.using("replica_1").filter(pk=member_id).exists():
        assert time.monotonic() < deadline, "the replica never received the member"
        time.sleep(0.1)


@needs_replica
@pytest.mark.django_db(transaction=True, databases=["default", "replica_1"])
def test_a_read_that_tolerates_lag_is_answered_by_the_replica_with_replicated_data(replica):
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0] is True
    member = MemberFactory(city="杭州")
    _replicated(member.pk)
    with replica_reads():
        members = Member.objects.filter(city="杭州")
        assert members.db == "replica_1"
        assert [m.pk for m in members] == [member.pk]
    assert Member.objects.filter(city="杭州").db == DEFAULT_DB_ALIAS


@needs_replica
@pytest.mark.django_db(transaction=True, databases=["default", "replica_1"])
def test_writes_and_reads_inside_a_transaction_never_go_to_the_replica_which_refuses_writes(replica):
    member = MemberFactory(city="杭州")
    _replicated(member.pk)
    with replica_reads():
        assert router.db_for_write(Member) == DEFAULT_DB_ALIAS
        Member.objects.filter(pk=member.pk).update(city="宁波")
        with transaction.atomic():
            assert Member.objects.filter(pk=member.pk).db == DEFAULT_DB_ALIAS
    assert Member.objects.using(DEFAULT_DB_ALIAS).get(pk=member.pk).city == "宁波"
    with pytest.raises(DatabaseError, match="read-only transaction"), replica.cursor() as cursor:
        cursor.execute("UPDATE members_member SET city = 'x' WHERE id = %s", [member.pk])


@needs_replica
@pytest.mark.django_db(transaction=True, databases=["default", "replica_1"])
@override_settings(USEROPS_REPLICAS={"MAX_LAG_SECONDS": 1.0, "CHECK_SECONDS": 0})
def test_a_replica_lagging_past_the_bound_is_skipped_until_it_catches_up(replica):
    first = MemberFactory()
    _replicated(first.pk)
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    MemberFactory()  # received by the replica but not replayed
    time.sleep(2)
    assert replicas.replica_lag_seconds("replica_1") > 1
    with replica_reads():
        assert Member.objects.all().db == DEFAULT_DB_ALIAS
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + 30
    while replicas.replica_lag_seconds("replica_1") > 0:
        assert time.monotonic() < deadline, "the replica never caught up"
        time.sleep(0.1)
    with replica_reads():
        assert Member.objects.all().db == "replica_1"


@needs_replica
@pytest.mark.django_db(transaction=True, databases=["default", "replica_1"])
def test_an_unreachable_replica_is_skipped(replica):
    replica.close()
    replica.settings_dict = {**replica.settings_dict, "PORT": "1"}
    with replica_reads():
        assert Member.objects.all().db == DEFAULT_DB_ALIAS
    replica.settings_dict = {**replica.settings_dict, "PORT": REPLICA_PORT}
