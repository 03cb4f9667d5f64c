"""Activity events partitioned by month of ``occurred_at`` on PostgreSQL: rows land in their month, ingestion stays
exactly-once through the key table (racing deliveries included, whatever time a re-delivery carries), the roll-up after
new events reads only the touched months, and converting a populated table keeps every event and key."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.analytics.models import ActivityEvent, ActivityEventKey, ActivityKind
from apps.analytics.services import rollup_run
from apps.core.partitions import convert_to_partitioned, convert_to_plain, is_partitioned, partitions_maintain
from tests.analytics.factories import ActivityEventFactory
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once
from tests.rules.factories import event, ingest

TABLE = "analytics_activityevent"

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only")


def partition_of(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def month_name(at: datetime) -> str:
    return f"{TABLE}_p{at.astimezone(UTC):%Y%m}"


@pytest.mark.django_db
def test_events_land_in_the_partition_of_their_month_and_old_months_get_theirs_from_the_job():
    client, member = ApiClientFactory(), MemberFactory()
    now = timezone.now()
    old = now - timedelta(days=200)
    answer = ingest(client, event(member, at=now - timedelta(minutes=1), event_id="now"), event(member, at=old, event_id="old"))
    assert answer["created"] == 2
    new_row, old_row = (ActivityEvent.objects.get(event_id=name) for name in ("now", "old"))
    assert partition_of(new_row.pk) == month_name(new_row.occurred_at)
    assert partition_of(old_row.pk) == f"{TABLE}_default"
    partitions_maintain()
    assert partition_of(old_row.pk) == month_name(old)
    assert is_partitioned(TABLE)


@pytest.mark.django_db
def test_a_redelivery_with_another_time_is_still_the_same_event():
    client, member = ApiClientFactory(), MemberFactory()
    now = timezone.now()
    first = ingest(client, event(member, at=now - timedelta(days=40), event_id="e-1"))
    again = ingest(client, event(member, at=now - timedelta(minutes=3), event_id="e-1"), event(member, at=now, event_id="e-2"))
    assert (first["created"], again["created"], again["duplicates"]) == (1, 1, 1)
    assert sorted(ActivityEvent.objects.values_list("event_id", flat=True)) == ["e-1", "e-2"]
    assert ActivityEventKey.objects.count() == 2
    # Another system may use the same event id: keys are per source.
    assert ingest(ApiClientFactory(), event(member, at=now, event_id="e-1"))["created"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_racing_deliveries_of_one_batch_store_each_event_once():
    client, member = ApiClientFactory(), MemberFactory()
    at = timezone.now() - timedelta(minutes=5)

    def deliver(index: int) -> int:
        # The second delivery carries other times: the key, not the time, makes the event.
        events = [event(member, at=at + timedelta(seconds=i + index), event_id=f"r-{i}") for i in range(20)]
        return ingest(client, *events)["created"]

    outcomes = run_at_once(deliver, threads=4)
    assert sum(created * n for created, n in outcomes.items()) == 20
    assert ActivityEvent.objects.count() == 20 == ActivityEventKey.objects.count()


@pytest.mark.django_db
def test_the_rollup_after_new_events_reads_only_the_touched_months():
    member = MemberFactory()
    now = timezone.now()
    old_months = [now - timedelta(days=days) for days in (70, 100, 130, 160)]
    for at in old_months:
        ActivityEventFactory(member=member, occurred_at=at, recorded_at=at)
    partitions_maintain()
    rollup_run(now=now - timedelta(hours=1))
    for n in range(10):
        ActivityEventFactory(member=member, kind=ActivityKind.APP_OPEN, occurred_at=now - timedelta(hours=n))
    plans: list[str] = []

    def explain(execute, sql, params, many, context):
        if "WITH added AS" in sql and not sql.startswith("EXPLAIN"):
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {sql}", params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        rollup_run(now=now)
    [plan] = plans
    touched = {month_name(now), month_name(now - timedelta(hours=9))}
    assert all(name in plan for name in touched), plan
    assert not any(month_name(at) in plan for at in old_months), plan
    assert f"{TABLE}_default" not in plan


@pytest.mark.django_db
def test_converting_a_populated_events_table_keeps_every_event():
    with connection.schema_editor() as editor:
        convert_to_plain(editor, table=TABLE)
    now = timezone.now()
    member = MemberFactory()
    for n in range(30):
        ActivityEventFactory(member=member, occurred_at=now - timedelta(days=9 * n), event_id=f"c-{n}")
    before = sorted(ActivityEvent.objects.values_list("id", "event_id", "occurred_at", "member_id"))
    with connection.schema_editor() as editor:
        assert convert_to_partitioned(editor, table=TABLE, column="occurred_at") == 30
    assert sorted(ActivityEvent.objects.values_list("id", "event_id", "occurred_at", "member_id")) == before
    with connection.cursor() as cursor:
        month = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYYMM')"
        cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE tableoid::regclass::text <> '{TABLE}_p' || {month}")
        assert cursor.fetchone() == (0,)
    assert ingest(ApiClientFactory(), event(member, at=now, event_id="after"))["created"] == 1
    assert ActivityEvent.objects.get(event_id="after").pk > max(row[0] for row in before)


@pytest.mark.django_db
def test_anonymisation_scrubs_the_key_table_too(staff):
    from apps.members.services import member_anonymise

    member = MemberFactory(phone="+8613911112222", name="欧阳晓梅")
    client = ApiClientFactory()
    ingest(client, event(member, event_id="pos-13911112222"), event(member, event_id="visit-欧阳晓梅"))
    bystander = MemberFactory()
    ingest(client, event(bystander, event_id="visit-欧阳晓梅-other"))
    member_anonymise(member=member, reason="Deletion request", actor=staff())
    keys = sorted(ActivityEventKey.objects.values_list("event_id", flat=True))
    assert not any("13911112222" in key for key in keys), keys
    # The name goes out of the member's own keys only, as from their events.
    assert sum("欧阳晓梅" in key for key in keys) == 1, keys
    assert sorted(ActivityEvent.objects.filter(member=member).values_list("event_id", flat=True)) == sorted(
        key for key in keys if not key.endswith("-other")
    )
