from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """Counts a large list without scanning it on every page view, in one query whatever the table's size.

    An unfiltered list on PostgreSQL takes the planner's row estimate when it is above ``EXACT_COUNT_CAP`` and counts
    exactly below it; a filtered list counts exactly up to ``EXACT_COUNT_CAP`` rows and stops there.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return super().count
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not query.where:
            table = connection.ops.quote_name(queryset.model._meta.db_table)
            # The CASE runs the capped count only when the estimate is small, so a big table costs one catalogue read.
            # The table name is the model's own, quoted; the numbers are parameters.
            capped = f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS capped"  # noqa: S608
            sql = f"SELECT CASE WHEN reltuples > %s THEN reltuples::bigint ELSE ({capped}) END FROM pg_class WHERE oid = %s::regclass"  # noqa: S608
            with connection.cursor() as cursor:
                cursor.execute(sql, [EXACT_COUNT_CAP, EXACT_COUNT_CAP + 1, queryset.model._meta.db_table])
                return cursor.fetchone()[0]
        return queryset.order_by()[: EXACT_COUNT_CAP + 1].count()
