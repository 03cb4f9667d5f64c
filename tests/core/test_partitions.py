"""The access log partitioned by month on PostgreSQL: rows land in their month, the nightly job creates the months
ahead and archives the old ones (idempotent, safe twice at once, refused past its limits), reads of a time range touch
only its months, and converting a populated table keeps every row."""

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test import override_settings

from apps.core import partitions
from apps.core.models import AccessAction, AccessLogEntry
from apps.core.partitions import ARCHIVE_SCHEMA, convert_to_partitioned, convert_to_plain, partitions_maintain, partitions_of
from config.celery_routes import BULK, queue_for
from tests.core.test_app_db_role import app_role, refused  # noqa: F401 - the application role's connection

TABLE = "core_accesslogentry"

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only")


def month(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def this_month() -> datetime:
    now = datetime.now(UTC)
    return month(now.year, now.month)


def months_later(start: datetime, n: int) -> datetime:
    index = start.year * 12 + start.month - 1 + n
    return month(index // 12, index % 12 + 1)


def log(at: datetime, object_id: str = "1") -> AccessLogEntry:
    return AccessLogEntry.objects.create(action=AccessAction.EXPORT, object_type="members.member", object_id=object_id, at=at)


def partition_of(entry: AccessLogEntry) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [entry.pk])
        return cursor.fetchone()[0]


def created(changes: list[partitions.PartitionChange]) -> list[tuple[str, int]]:
    """The access log's partitions a run created, with the rows it moved into each."""
    return [(c.partition, c.rows) for c in changes if c.action == "created" and c.table == TABLE]


def names(table: str = TABLE) -> list[str]:
    return [name for name, _bound in partitions_of(table)]


@pytest.mark.django_db
def test_rows_land_in_the_partition_of_their_month():
    start = this_month()
    now_entry = log(start + timedelta(days=3, hours=5))
    next_entry = log(months_later(start, 1) + timedelta(hours=1))
    last_instant = log(months_later(start, 1) - timedelta(microseconds=1))
    assert partition_of(now_entry) == f"{TABLE}_p{start:%Y%m}"
    assert partition_of(last_instant) == f"{TABLE}_p{start:%Y%m}"
    assert partition_of(next_entry) == f"{TABLE}_p{months_later(start, 1):%Y%m}"
    assert partitions.is_partitioned(TABLE)


@pytest.mark.django_db
def test_a_row_no_month_covers_goes_to_the_default_partition_and_the_job_gives_its_month_a_partition():
    stray = log(month(2019, 5, 10), object_id="stray")
    assert partition_of(stray) == f"{TABLE}_default"
    with override_settings(USEROPS_PARTITIONS={"MONTHS_AHEAD": 3, "RETENTION_MONTHS": {}}):
        changes = partitions_maintain()
    assert created(changes) == [(f"{TABLE}_p201905", 1)]
    assert partition_of(stray) == f"{TABLE}_p201905"
    assert f"{TABLE}_default" in names()
    # The DEFAULT partition went out and back in: the append-only guard is on the moved row's partition as on every other.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessLogEntry.objects.filter(pk=stray.pk).delete()


@pytest.mark.django_db
def test_the_job_creates_the_months_ahead_once():
    later = months_later(this_month(), 12)
    first = partitions_maintain(now=later, months_ahead=2)
    expected = [f"{TABLE}_p{months_later(later, n):%Y%m}" for n in range(3)]
    assert created(first) == [(name, 0) for name in expected]
    assert set(expected) <= set(names())
    assert created(partitions_maintain(now=later, months_ahead=2)) == []
    entry = log(months_later(later, 2) + timedelta(days=1))
    assert partition_of(entry) == expected[2]


@pytest.mark.django_db
def test_months_past_retention_are_detached_into_the_archive_schema_with_their_rows_and_can_be_attached_again():
    start = this_month()
    old = log(start + timedelta(days=1), object_id="old")
    recent = log(months_later(start, 7) + timedelta(days=1), object_id="recent")
    too_old_for_a_partition = log(month(2019, 5, 10), object_id="stray")
    later = months_later(start, 13)  # with 6 months kept, the months before `start + 7` go
    with override_settings(USEROPS_PARTITIONS={"MONTHS_AHEAD": 1, "RETENTION_MONTHS": {TABLE: 6}}):
        changes = partitions_maintain(now=later)
        assert [c for c in partitions_maintain(now=later) if c.action == "archived"] == []
    archived = [c.partition for c in changes if c.action == "archived"]
    assert f"{ARCHIVE_SCHEMA}.{TABLE}_p{start:%Y%m}" in archived
    assert f"{ARCHIVE_SCHEMA}.{TABLE}_p{months_later(start, 7):%Y%m}" not in archived
    assert sorted(AccessLogEntry.objects.values_list("object_id", flat=True)) == ["recent", "stray"]
    assert partition_of(too_old_for_a_partition) == f"{TABLE}_default"
    assert partition_of(recent) == f"{TABLE}_p{months_later(start, 7):%Y%m}"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT object_id FROM {ARCHIVE_SCHEMA}.{TABLE}_p{start:%Y%m}")
        assert cursor.fetchall() == [("old",)]
        # The restore docs/operations.md describes.
        cursor.execute(f"ALTER TABLE {ARCHIVE_SCHEMA}.{TABLE}_p{start:%Y%m} SET SCHEMA public")
        cursor.execute(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {TABLE}_p{start:%Y%m} FOR VALUES FROM (%s) TO (%s)", [start, months_later(start, 1)]
        )
    assert AccessLogEntry.objects.get(pk=old.pk).object_id == "old"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("table", "ahead", "retention", "message"),
    [
        (TABLE, 3, 5, "retention must be at least 6 months"),
        (TABLE, 25, None, "months ahead must be 0 to 24"),
        (TABLE, -1, None, "months ahead must be 0 to 24"),
        ("core_apiclient", 3, None, "is not partitioned"),
    ],
)
def test_the_job_refuses_what_it_may_not_do(table, ahead, retention, message):
    with pytest.raises(DatabaseError, match=message), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM userops_partitions_maintain(%s::regclass, %s, %s)", [table, ahead, retention])


@pytest.mark.django_db
def test_a_setting_under_the_retention_floor_fails_the_job_rather_than_archiving():
    log(this_month())
    settings = {"MONTHS_AHEAD": 3, "RETENTION_MONTHS": {TABLE: 2}}
    with override_settings(USEROPS_PARTITIONS=settings), pytest.raises(DatabaseError, match="at least 6 months"):
        partitions_maintain(now=months_later(this_month(), 12))
    assert AccessLogEntry.objects.count() == 1


def _drop_partitions_from(start: datetime) -> None:
    with connection.cursor() as cursor:
        for table in partitions.partitioned_tables():
            for name, _bound in partitions_of(table):
                if name != f"{table}_default" and name[-6:] >= f"{start:%Y%m}":
                    cursor.execute(f"DROP TABLE {name}")


@pytest.mark.django_db(transaction=True)
@override_settings(USEROPS_PARTITIONS={"MONTHS_AHEAD": 3, "RETENTION_MONTHS": {}})  # committed: nothing may be archived
def test_two_runs_at_once_create_each_month_once():
    later = month(2031, 1)
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            changes = partitions_maintain(now=later, months_ahead=2)
            results.append([name for name, _rows in created(changes)])
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(name for created in results for name in created) == [f"{TABLE}_p2031{m:02d}" for m in (1, 2, 3)]
    finally:
        _drop_partitions_from(later)


@pytest.mark.django_db(transaction=True)
def test_the_application_role_runs_the_job_but_cannot_change_partitions(app_role):  # noqa: F811 - the imported fixture
    try:
        created = app_role.execute(
            "SELECT partition FROM userops_partitions_maintain(%s::regclass, 1, NULL, %s) WHERE action = 'created'", [TABLE, month(2032, 1)]
        ).fetchall()
        assert created == [(f"{TABLE}_p203201",), (f"{TABLE}_p203202",)]
        for name in (f"{TABLE}_p203201", f"{TABLE}_default"):
            assert refused(app_role, f"UPDATE {name} SET object_id = ''"), name
            assert refused(app_role, f"DELETE FROM {name}"), name
        assert refused(app_role, f"ALTER TABLE {TABLE} DETACH PARTITION {TABLE}_p203201")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            app_role.execute("SELECT * FROM userops_partitions_maintain(%s::regclass, 1, 1)", [TABLE])
    finally:
        _drop_partitions_from(month(2032, 1))


@pytest.mark.django_db
def test_a_read_of_a_time_range_scans_only_its_months():
    start = this_month()
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN SELECT count(*) FROM {TABLE} WHERE at >= %s AND at < %s",
            [start + timedelta(days=1), start + timedelta(days=2)],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"{TABLE}_p{start:%Y%m}" in plan
    scanned = [name for name in names() if name in plan]
    assert scanned == [f"{TABLE}_p{start:%Y%m}"], plan


@pytest.mark.django_db
def test_converting_a_populated_plain_table_keeps_every_row_in_its_month():
    start = this_month()
    kept = [log(start + timedelta(hours=1), object_id="a").pk, log(months_later(start, 1), object_id="b").pk]
    with connection.schema_editor() as editor:
        assert convert_to_plain(editor, table=TABLE) == 2
    assert not partitions.is_partitioned(TABLE)
    assert sorted(AccessLogEntry.objects.values_list("pk", flat=True)) == kept
    stamps = [months_later(start, -n) + timedelta(days=n % 27, seconds=n) for n in range(40)]
    AccessLogEntry.objects.bulk_create(
        [AccessLogEntry(action=AccessAction.EXPORT, object_type="members.member", object_id=str(n), at=at) for n, at in enumerate(stamps)]
    )
    before = sorted(AccessLogEntry.objects.values_list("id", "object_id", "at"))
    with connection.schema_editor() as editor:
        copied = convert_to_partitioned(editor, table=TABLE, column="at")
    assert copied == 42
    assert partitions.is_partitioned(TABLE)
    assert sorted(AccessLogEntry.objects.values_list("id", "object_id", "at")) == before
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ONLY {TABLE}_default")
        assert cursor.fetchone() == (0,)
        cursor.execute(
            f"SELECT count(*) FROM {TABLE} WHERE tableoid::regclass::text <> '{TABLE}_p' || to_char(at AT TIME ZONE 'UTC', 'YYYYMM')"
        )
        assert cursor.fetchone() == (0,)
    # Ids carry on after the copied ones; the guard and the key came along.
    newest = log(start + timedelta(days=1))
    assert newest.pk > max(pk for pk, _object_id, _at in before)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessLogEntry.objects.filter(pk=newest.pk).update(object_id="x")


def test_the_job_is_a_nightly_bulk_task():
    from django.conf import settings

    assert settings.USEROPS_PERIODIC_TASKS["Maintain monthly partitions"]["task"] == "core.maintain_partitions"
    assert queue_for("core.maintain_partitions") == BULK


EVENTS = "analytics_activityevent"


def index_and_key_definitions(table: str) -> tuple[list[str], list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass ORDER BY 1", [table])
        indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [table]
        )
        return indexes, [row[0] for row in cursor.fetchall()]


def store_event(member_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {EVENTS} (member_id, kind, occurred_at, recorded_at, source, event_id, order_ref, channel)
                VALUES (%s, 'login', now(), now(), 'test', %s, '', 'app')""",
            [member_id, f"bulk-{member_id}"],
        )


@pytest.mark.django_db
def test_a_bulk_load_gets_every_index_and_key_back_built_over_its_rows():
    from tests.members.factories import MemberFactory

    member = MemberFactory()
    before = index_and_key_definitions(EVENTS)
    with transaction.atomic(), partitions.indexes_built_after_load(EVENTS):
        assert index_and_key_definitions(EVENTS) == (
            [f"CREATE UNIQUE INDEX analytics_activityevent_pkey ON ONLY public.{EVENTS} USING btree (id, occurred_at)"],
            [],
        )
        store_event(member.pk)
    assert index_and_key_definitions(EVENTS) == before
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {EVENTS} WHERE member_id = %s AND occurred_at > now() - interval '1 hour'", [member.pk])
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db
def test_a_bulk_load_breaking_the_member_key_is_refused_and_leaves_indexes_and_keys_as_they_were():
    before = index_and_key_definitions(EVENTS)
    with pytest.raises(DatabaseError, match="member_id"), transaction.atomic(), partitions.indexes_built_after_load(EVENTS):
        store_event(-1)
    assert index_and_key_definitions(EVENTS) == before


@pytest.mark.django_db(transaction=True)
def test_a_bulk_load_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="needs a transaction"), partitions.indexes_built_after_load(EVENTS):
        pass
