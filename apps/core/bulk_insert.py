"""Inserting many rows fast: keys are allocated up front, so rows that point at each other (a member, its
account, its ledger entry) are written in one pass without reading anything back, and on PostgreSQL the
rows go in with COPY instead of INSERT statements built by the ORM."""

from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.db.models import Max

# Values of these fields go to the driver as they are (datetimes must be aware); any other field type is
# prepared by Django first.
_NATIVE_FIELDS = (
    models.AutoField,
    models.BooleanField,
    models.CharField,
    models.DateField,
    models.ForeignKey,
    models.IntegerField,
    models.TextField,
)


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` primary keys for new rows of ``model``, reserved from its sequence."""
    if count <= 0:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [model._meta.db_table, model._meta.pk.column, count],
            )
            return [row[0] for row in cursor.fetchall()]
    # SQLite (the embedded demo) has a single writer, so keys above the highest are free until commit.
    start = (model._default_manager.aggregate(highest=Max("pk"))["highest"] or 0) + 1
    return list(range(start, start + count))


def insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts by field attname, all with the same keys) into ``model``'s table.

    Fields the rows leave out take their model default, and an auto primary key its database default. No
    signals are sent and ``save()`` is not called: callers write what a save would have written themselves.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create([model(**row) for row in rows], batch_size=1000)
        return
    given = rows[0].keys()
    provided = [f for f in model._meta.concrete_fields if f.attname in given]
    defaulted = [f for f in model._meta.concrete_fields if f.attname not in given and not isinstance(f, models.AutoField)]
    prepare = [(f.attname, None if isinstance(f, _NATIVE_FIELDS) else f) for f in provided]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in defaulted]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [*provided, *defaulted])
    copy_sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    # The driver's COPY bypasses Django's cursor wrapper, so its errors are translated here (IntegrityError …).
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(
                [row[name] if field is None else field.get_db_prep_save(row[name], connection) for name, field in prepare] + defaults
            )
