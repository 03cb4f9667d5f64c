"""Inserting many rows fast: keys are allocated up front, so rows that point at each other (a member, its
account, its ledger entry) are written in one pass without reading anything back, and on PostgreSQL the
rows go in with COPY instead of INSERT statements built by the ORM."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, models
from django.db.models import Max
from psycopg.adapt import PyFormat, Transformer

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
# … and of these (native fields but dates and times) the driver gets them as they are, not as text made once.
_PASSED_FIELDS = (models.AutoField, models.BooleanField, models.CharField, models.ForeignKey, models.IntegerField, models.TextField)


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


def insert_values(model: type[models.Model], row: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
    """The column list, placeholders and parameters of an ``INSERT`` of one ``row`` (a value by attname for every
    concrete field but the key), for a statement that writes it beside other rows (a data-modifying CTE)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    return columns, ", ".join(["%s"] * len(fields)), [field.get_db_prep_save(row[field.attname], connection) for field in fields]


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
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in defaulted]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [*provided, *defaulted])
    copy_sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    # The driver's COPY bypasses Django's cursor wrapper, so its errors are translated here (IntegrityError …).
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
        as_text = _TextCache(cursor.cursor)
        passed = [(f.attname, None if isinstance(f, _PASSED_FIELDS) else f) for f in provided]
        for row in rows:
            copy.write_row([row[name] if field is None else as_text(row[name], field) for name, field in passed] + defaults)


_TEXT_CACHE_SIZE = 4096


class _TextCache:
    """Each distinct value of a time, date or prepared field as the text COPY reads, made once per statement.

    The driver formats a datetime or a JSON value many times slower than it copies text, and the rows of one
    statement share a few such values (the time of the write, an expiry, an empty reason's parameters).
    """

    def __init__(self, cursor: Any) -> None:
        self._transformer = Transformer(cursor)
        self._texts: dict[int, tuple[Any, str | None]] = {}  # by id(); the value is kept so its id is not reused

    def __call__(self, value: Any, field: models.Field) -> str | None:
        cached = self._texts.get(id(value))
        if cached is None:
            if len(self._texts) >= _TEXT_CACHE_SIZE:  # values of their own on every row: keep memory flat
                self._texts.clear()
            prepared = value if isinstance(field, _NATIVE_FIELDS) else field.get_db_prep_save(value, connection)
            text = None if prepared is None else bytes(self._transformer.get_dumper(prepared, PyFormat.TEXT).dump(prepared)).decode()
            cached = self._texts[id(value)] = (value, text)
        return cached[1]
