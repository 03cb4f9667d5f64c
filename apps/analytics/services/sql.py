"""Set-based writes: Django compiles the inner SELECT (so local-day arithmetic works on PostgreSQL and on the embedded
SQLite alike) and it is wrapped in one ``INSERT … SELECT``."""

from typing import Any

from django.db import connection
from django.db.models import QuerySet


def insert_select(model: type, columns: list[str], sql: str, params: Any, suffix: str = "") -> int:
    table = model._meta.db_table
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {sql} {suffix}", params)
        return cursor.rowcount


def compiled(queryset: QuerySet) -> tuple[str, tuple]:
    return queryset.query.sql_with_params()
