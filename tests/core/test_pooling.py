"""Behind PgBouncer in transaction pooling mode: the product keeps no session state, prepares no statements and opens
no named cursors, so consecutive transactions may land on any server connection. Runs in `make test-pgbouncer`, which
starts a real PgBouncer and points the suite at it (with the concurrency and idempotency tests)."""

import os
import threading

import psycopg
import pytest
from django.db import connection, connections, transaction

from apps.members import selectors
from apps.members.models import Member
from apps.members.timeline import TIMELINE_SOURCES
from tests.members.factories import MemberFactory
from tests.members.timeline_helpers import fill_every_source

PGBOUNCER_PORT = os.environ.get("USEROPS_PGBOUNCER_PORT")
pytestmark = pytest.mark.skipif(not PGBOUNCER_PORT, reason="needs the PgBouncer of `make test-pgbouncer`")


def _admin(command: str) -> list[dict[str, object]]:
    with psycopg.connect(
        f"postgres://postgres@127.0.0.1:{PGBOUNCER_PORT}/pgbouncer", autocommit=True, cursor_factory=psycopg.ClientCursor
    ) as admin:
        cursor = admin.execute(command)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.django_db
def test_the_suite_really_runs_through_pgbouncer_in_transaction_mode():
    assert str(connection.settings_dict["PORT"]) == PGBOUNCER_PORT
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True
    config = {row["key"]: row["value"] for row in _admin("SHOW CONFIG")}
    assert config["pool_mode"] == "transaction"
    connection.ensure_connection()
    pools = {row["database"] for row in _admin("SHOW POOLS")}
    assert connection.settings_dict["NAME"] in pools


@pytest.mark.django_db(transaction=True)
def test_repeated_queries_and_chunked_reads_work_across_pooled_server_connections():
    MemberFactory.create_batch(5)
    failures: list[BaseException] = []

    def read_many_times() -> None:
        try:
            for _ in range(20):  # psycopg would prepare a statement after five runs, were it allowed to
                with transaction.atomic():
                    assert Member.objects.filter(pk__gt=0).count() == 5
            assert len(list(Member.objects.order_by("pk").iterator(chunk_size=2))) == 5
        except BaseException as error:  # the main thread reports it
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read_many_times) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@pytest.mark.django_db(transaction=True)
def test_timeline_pages_read_across_pooled_server_connections():
    member = MemberFactory()
    fill_every_source(member)
    expected = selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=5)
    failures: list[BaseException] = []

    def read_pages() -> None:
        try:
            for _ in range(10):
                with transaction.atomic():
                    assert selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=5) == expected
        except BaseException as error:  # the main thread reports it
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read_pages) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert expected.items and failures == []
