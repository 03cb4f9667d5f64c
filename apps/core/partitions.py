"""Monthly range partitions of append-heavy tables on PostgreSQL (docs/operations.md, "Partitions").

A registered table is partitioned by month (UTC months) on a time column, with one DEFAULT partition that catches a
row no month partition covers yet, so an insert never fails because the job has not run. The beat job
(``partitions_maintain``) creates the months ahead, gives a month found in the DEFAULT partition its own partition,
and detaches the months older than the table's retention into the ``partition_archive`` schema, where they stay
plain tables until an administrator dumps and drops them (or attaches them again).

The job runs as the application's role, which may not create or alter tables: the work is done by
``userops_partitions_maintain``, a SECURITY DEFINER function the owner creates in the migration. It refuses a table
that is not partitioned, more than 24 months ahead and a retention under ``MIN_RETENTION_MONTHS`` — the application
can hide old partitions from itself, never drop them. Two runs at once queue on one advisory lock per table.

The embedded SQLite database keeps plain tables: nothing here runs there.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

ARCHIVE_SCHEMA = "partition_archive"
MIN_RETENTION_MONTHS = 6
MAX_MONTHS_AHEAD = 24


_TABLES: set[str] = set()


def register_partitioned_table(table: str) -> None:
    """A table its app's migration partitions by month (``convert_to_partitioned``); the beat job maintains it."""
    _TABLES.add(table)


def partitioned_tables() -> list[str]:
    return sorted(_TABLES)


def retention_months(table: str) -> int | None:
    """Months a table's partitions are kept (0 or unset in settings: kept for ever)."""
    months = settings.USEROPS_PARTITIONS["RETENTION_MONTHS"].get(table) or 0
    return months or None


def is_partitioned(table: str) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [table])
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class PartitionChange:
    table: str
    action: str  # "created" or "archived"
    partition: str
    rows: int | None  # created: the rows moved into it out of the DEFAULT partition; archived: not counted


def partitions_maintain(*, now: datetime | None = None, months_ahead: int | None = None) -> list[PartitionChange]:
    """Create the coming months' partitions of every registered table and archive those past its retention.

    Idempotent: a second run (or one running at the same time, which waits for the first) changes nothing.
    """
    if connection.vendor != "postgresql":
        return []
    now = now or timezone.now()
    ahead = settings.USEROPS_PARTITIONS["MONTHS_AHEAD"] if months_ahead is None else months_ahead
    changes: list[PartitionChange] = []
    for table in partitioned_tables():
        if not is_partitioned(table):
            continue
        # One transaction per table: the function's lock and its DDL end together.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT action, partition, moved_rows FROM userops_partitions_maintain(%s::regclass, %s, %s, %s)",
                [table, ahead, retention_months(table), now],
            )
            changes += [PartitionChange(table, action, name, rows) for action, name, rows in cursor.fetchall()]
    return changes


def partitions_of(table: str) -> list[tuple[str, str]]:
    """A partitioned table's partitions (name, bound as PostgreSQL prints it), oldest first, DEFAULT last."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = %s::regclass ORDER BY pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.relname""",
            [table],
        )
        return cursor.fetchall()


# The migration's side: run as the owner --------------------------------------------------------------------

# A partition answers to the same roles as its parent (new tables get the owner's default privileges, which would let
# the application role UPDATE a partition of an append-only table directly).
COPY_ACL_FUNCTION = """
CREATE OR REPLACE FUNCTION userops_partition_copy_acl(parent regclass, part regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
DECLARE
    owner_id oid := (SELECT relowner FROM pg_class WHERE oid = parent);
    entry record;
BEGIN
    FOR entry IN SELECT DISTINCT grantee FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = part)) WHERE grantee <> owner_id LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', part,
                       CASE WHEN entry.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(entry.grantee)) END);
    END LOOP;
    FOR entry IN SELECT grantee, privilege_type FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = parent))
                 WHERE grantee <> owner_id LOOP
        EXECUTE format('GRANT %s ON %s TO %s', entry.privilege_type, part,
                       CASE WHEN entry.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(entry.grantee)) END);
    END LOOP;
END $fn$;
"""

MAINTAIN_FUNCTION = f"""
CREATE OR REPLACE FUNCTION userops_partitions_maintain(
    parent regclass, months_ahead int, retention_months int, at timestamptz DEFAULT now()
) RETURNS TABLE (action text, partition text, moved_rows bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    key_column text;
    parent_name text;
    default_part regclass;
    this_month timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    cutoff timestamptz;
    months timestamptz[];
    stray timestamptz[];
    lower_bound timestamptz;
    upper_bound timestamptz;
    part_name text;
    part record;
    n bigint;
BEGIN
    SELECT a.attname INTO key_column FROM pg_partitioned_table p
        JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
        WHERE p.partrelid = parent AND p.partstrat = 'r' AND p.partnatts = 1;
    IF key_column IS NULL THEN
        RAISE EXCEPTION '% is not partitioned by range on one column', parent USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > {MAX_MONTHS_AHEAD} THEN
        RAISE EXCEPTION 'months ahead must be 0 to {MAX_MONTHS_AHEAD}, not %', months_ahead USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF retention_months IS NOT NULL AND retention_months < {MIN_RETENTION_MONTHS} THEN
        RAISE EXCEPTION 'retention must be at least {MIN_RETENTION_MONTHS} months, not %', retention_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Two runs at once: the second waits here, then finds nothing left to do.
    PERFORM pg_advisory_xact_lock(hashtext('userops_partitions:' || parent::text));
    SELECT relname INTO parent_name FROM pg_class WHERE oid = parent;
    cutoff := CASE WHEN retention_months IS NULL THEN NULL ELSE this_month - make_interval(months => retention_months) END;
    SELECT i.inhrelid::regclass INTO default_part FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';

    -- The months to have: this one, those ahead, and each month within retention that a row of the DEFAULT partition
    -- falls in (the job did not run in time, or an old row arrived late).
    months := ARRAY(SELECT generate_series(this_month, this_month + make_interval(months => months_ahead), interval '1 month'));
    IF default_part IS NOT NULL THEN
        EXECUTE format('SELECT array_agg(DISTINCT date_trunc(''month'', %I AT TIME ZONE ''UTC'') AT TIME ZONE ''UTC'') FROM %s',
                       key_column, default_part) INTO stray;
        months := months || coalesce(stray, '{{}}');
    END IF;
    FOR lower_bound IN SELECT DISTINCT m FROM unnest(months) m WHERE cutoff IS NULL OR m >= cutoff ORDER BY 1 LOOP
        part_name := format('%s_p%s', parent_name, to_char(lower_bound AT TIME ZONE 'UTC', 'YYYYMM'));
        CONTINUE WHEN to_regclass(format('public.%I', part_name)) IS NOT NULL;
        upper_bound := lower_bound + interval '1 month';
        n := 0;
        IF default_part IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM %s WHERE %I >= $1 AND %I < $2', default_part, key_column, key_column)
                INTO n USING lower_bound, upper_bound;
        END IF;
        IF n > 0 THEN
            -- A new partition may not overlap rows the DEFAULT partition holds: take it out, move the month's rows
            -- through the parent into the new partition, and put it back (which checks it holds no covered row).
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent, default_part);
        END IF;
        EXECUTE format('CREATE TABLE public.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)', part_name, parent, lower_bound, upper_bound);
        PERFORM userops_partition_copy_acl(parent, format('public.%I', part_name)::regclass);
        IF n > 0 THEN
            EXECUTE format('INSERT INTO %s SELECT * FROM %s WHERE %I >= $1 AND %I < $2', parent, default_part, key_column, key_column)
                USING lower_bound, upper_bound;
            EXECUTE format('DELETE FROM %s WHERE %I >= $1 AND %I < $2', default_part, key_column, key_column)
                USING lower_bound, upper_bound;
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', parent, default_part);
        END IF;
        action := 'created'; partition := part_name; moved_rows := n;
        RETURN NEXT;
    END LOOP;

    IF cutoff IS NOT NULL THEN
        FOR part IN
            SELECT c.oid::regclass AS rel, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = parent AND c.relname ~ ('^' || parent_name || '_p[0-9]{{6}}$') ORDER BY c.relname
        LOOP
            CONTINUE WHEN (to_date(right(part.relname, 6), 'YYYYMM')::timestamp AT TIME ZONE 'UTC') + interval '1 month' > cutoff;
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent, part.rel);
            EXECUTE format('ALTER TABLE %s SET SCHEMA {ARCHIVE_SCHEMA}', part.rel);
            action := 'archived'; partition := '{ARCHIVE_SCHEMA}.' || part.relname; moved_rows := NULL;
            RETURN NEXT;
        END LOOP;
    END IF;
END $fn$;
"""  # noqa: S608 - constants of this module, no input


def install_functions(schema_editor: BaseDatabaseSchemaEditor) -> None:
    """The functions the job calls, and the schema archived partitions move to (PostgreSQL; owner)."""
    schema_editor.execute(f"CREATE SCHEMA IF NOT EXISTS {ARCHIVE_SCHEMA}", params=None)
    schema_editor.execute(COPY_ACL_FUNCTION, params=None)
    schema_editor.execute(MAINTAIN_FUNCTION, params=None)


def _fetch_all(cursor: object, sql: str, params: Iterable[object]) -> list[tuple]:
    cursor.execute(sql, list(params))
    return cursor.fetchall()


def _indexes_and_foreign_keys(cursor: object, table: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The definitions of a table's indexes that back no constraint, and its foreign keys (name, definition)."""
    # A partitioned table's index prints as "ON ONLY": made again on the plain table (or the other way) it is "ON".
    indexes = [
        row[0].replace(" ON ONLY ", " ON ", 1)
        for row in _fetch_all(
            cursor,
            """SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
               ORDER BY i.indexrelid""",
            [table],
        )
    ]
    foreign_keys = _fetch_all(
        cursor, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [table]
    )
    return indexes, foreign_keys


def _definitions(cursor: object, table: str) -> tuple[list[str], list[tuple[str, str]], list[str], list[tuple[str, str]]]:
    """What a table has beyond its columns and checks: index definitions, foreign keys, triggers, grants."""
    unique = _fetch_all(cursor, "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('u', 'x')", [table])
    referenced = _fetch_all(cursor, "SELECT conname FROM pg_constraint WHERE confrelid = %s::regclass AND contype = 'f'", [table])
    if unique or referenced:
        # Neither can hold on a partitioned table as they stand; the table's app must replace them first.
        names = ", ".join(row[0] for row in unique + referenced)
        raise ValueError(f"{table}: unique or referencing constraints ({names}) must be replaced before partitioning")
    indexes, foreign_keys = _indexes_and_foreign_keys(cursor, table)
    triggers = [
        row[0]
        for row in _fetch_all(
            cursor,
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
            [table],
        )
    ]
    grants = _fetch_all(
        cursor,
        """SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type
           FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s::regclass AND a.grantee <> c.relowner""",
        [table],
    )
    return indexes, foreign_keys, triggers, grants


@contextmanager
def indexes_built_after_load(table: str) -> Iterator[None]:
    """Drop ``table``'s indexes that back no constraint and its foreign keys, and make them again on leaving: a bulk
    load into it writes rows only, then each index is built in one sort and each key checked in one join, as
    ``convert_to_partitioned`` builds them after its copy. Call inside a transaction: the table is locked ACCESS
    EXCLUSIVE until it commits, and a load that fails leaves the indexes and keys as they were."""
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_built_after_load needs a transaction: a failed load would leave the table without indexes")
    with connection.cursor() as cursor:
        indexes, foreign_keys = _indexes_and_foreign_keys(cursor, table)
        index_names = [
            row[0]
            for row in _fetch_all(
                cursor,
                """SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = %s::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)""",
                [table],
            )
        ]
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name, _definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name in index_names:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        for statement in indexes:
            cursor.execute(statement)
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _swap_in(cursor: object, *, table: str, old: str, definitions: tuple, primary_key: str) -> None:
    """Drop the old table and give the new one its name's identity: sequence, key, indexes, keys, triggers, grants."""
    indexes, foreign_keys, triggers, grants = definitions
    sequence = _fetch_all(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])[0][0]
    cursor.execute(
        f"SELECT setval(%s, greatest((SELECT max(id) FROM {table}), (SELECT last_value FROM {old}_id_seq_kept)), true)",  # noqa: S608
        [sequence],
    )
    cursor.execute(f"DROP SEQUENCE {old}_id_seq_kept")
    cursor.execute(f"DROP TABLE {old}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_id_seq")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({primary_key})")
    for statement in indexes + triggers:
        cursor.execute(statement)
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for grantee, privilege in grants:
        cursor.execute(f"GRANT {privilege} ON {table} TO {grantee}")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _rename_old(cursor: object, table: str) -> str:
    old = f"{table}_unpartitioned"
    # Deferred foreign-key checks of rows written earlier in this transaction run now: a table with pending trigger
    # events cannot be dropped. ``_swap_in`` defers them again.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    # The identity sequence goes with the old table when it is dropped: keep where it stood.
    cursor.execute(f"CREATE TEMP SEQUENCE {old}_id_seq_kept")
    cursor.execute(
        f"SELECT setval('{old}_id_seq_kept', greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')), 1), 1))", [old]
    )
    return old


def convert_to_partitioned(schema_editor: BaseDatabaseSchemaEditor, *, table: str, column: str, now: datetime | None = None) -> int:
    """Rebuild a populated plain table as one partitioned by month on ``column``, every row kept; the rows copied.

    Holds an ACCESS EXCLUSIVE lock on the table until the migration's transaction commits (docs/operations.md).
    """
    now = now or timezone.now()
    with schema_editor.connection.cursor() as cursor:
        definitions = _definitions(cursor, table)
        old = _rename_old(cursor, table)
        cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING ALL EXCLUDING INDEXES) PARTITION BY RANGE ({column})")
        # Every month from the oldest row to this one gets its partition, so the copy leaves the DEFAULT one empty.
        cursor.execute(
            f"""SELECT m FROM generate_series(
                    date_trunc('month', (SELECT min({column}) FROM {old}) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                    date_trunc('month', %s AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 month', interval '1 month') m""",  # noqa: S608
            [now],
        )
        for (month,) in cursor.fetchall():
            name = f"{table}_p{month.astimezone(UTC):%Y%m}"
            cursor.execute(
                f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s::timestamptz + interval '1 month')", [month, month]
            )
        cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
        copied = cursor.rowcount
        _swap_in(cursor, table=table, old=old, definitions=definitions, primary_key=f"id, {column}")
        cursor.execute(
            "SELECT userops_partition_copy_acl(%s::regclass, i.inhrelid::regclass) FROM pg_inherits i WHERE i.inhparent = %s::regclass",
            [table, table],
        )
        ahead = settings.USEROPS_PARTITIONS["MONTHS_AHEAD"]
        cursor.execute("SELECT count(*) FROM userops_partitions_maintain(%s::regclass, %s, NULL, %s)", [table, ahead, now])
    return copied


def convert_to_plain(schema_editor: BaseDatabaseSchemaEditor, *, table: str) -> int:
    """The way back: one plain table with every row of the partitioned one (archived partitions stay archived)."""
    with schema_editor.connection.cursor() as cursor:
        definitions = _definitions(cursor, table)
        old = _rename_old(cursor, table)
        cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING ALL EXCLUDING INDEXES)")
        cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
        copied = cursor.rowcount
        _swap_in(cursor, table=table, old=old, definitions=definitions, primary_key="id")
    return copied
