"""``field__any_of=values``: membership in a list sent as ONE array parameter on PostgreSQL.

``field__in=values`` renders a placeholder per value: a chunk of a bulk job (thousands of ids) is compiled, quoted and
parsed value by value on every query. ``= ANY(%s::type[])`` sends the list as one array, which the driver formats in
one call. Elsewhere (SQLite, the embedded demo) it is the same ``IN`` as ``__in``.
"""

from typing import Any

from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


@Field.register_lookup
@ForeignObject.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"

    def get_prep_lookup(self) -> list[Any]:
        return [self.lhs.output_field.get_prep_value(value) for value in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return In(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        array_type = f"{self.lhs.output_field.cast_db_type(connection)}[]"
        return f"{lhs_sql} = ANY(%s::{array_type})", [*lhs_params, list(self.rhs)]
