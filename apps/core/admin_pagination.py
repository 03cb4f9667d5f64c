from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """Counts a large list without scanning it on every page view.

    An unfiltered list on PostgreSQL takes the planner's row estimate; a filtered list counts exactly up
    to ``EXACT_COUNT_CAP`` rows and stops there. Below the cap, counts are exact.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return super().count
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table])
                row = cursor.fetchone()
            estimate = row[0] if row else -1
            if estimate > EXACT_COUNT_CAP:
                return estimate
        return queryset.order_by()[: EXACT_COUNT_CAP + 1].count()
