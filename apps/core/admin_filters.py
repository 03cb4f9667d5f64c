"""Back-office list filters made from a list's FilterSet, so a list's filter logic is written once.

``filterset_list_filter(MemberFilter, "consent")`` is a list filter (the theme's dropdown, or a text box for a text
filter) whose choices are the FilterSet filter's and whose query is the FilterSet's own: the API, the selectors and
the back office answer the same question the same way. ``parameter`` keeps the URL parameter pages already link with
(``state__exact``); the admin base accepts it because a declared filter consumes it.
"""

from collections.abc import Callable, Iterable
from typing import Any

import django_filters
from django.contrib.admin import SimpleListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import DropdownFilter, TextFilter

BOOLEAN_CHOICES = [("true", _("Yes")), ("false", _("No"))]


def filterset_list_filter(
    filterset_class: type[django_filters.FilterSet],
    name: str,
    *,
    parameter: str | None = None,
    choices: Callable[[], Iterable[tuple[Any, Any]]] | None = None,
) -> type[SimpleListFilter]:
    """The admin list filter for filter ``name`` of ``filterset_class`` (``choices`` for a filter by key, e.g. a benefit)."""
    declared = filterset_class.base_filters[name]
    free_text = choices is None and isinstance(declared, django_filters.CharFilter)

    class FilterSetListFilter(TextFilter if free_text else DropdownFilter):  # type: ignore[misc]
        title = declared.label
        parameter_name = parameter or name

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, Any]]:
            if choices is not None:
                return list(choices())
            if isinstance(declared, django_filters.BooleanFilter):
                return BOOLEAN_CHOICES
            return list(declared.extra.get("choices", ()))

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            value = self.value()
            if value in (None, ""):
                return queryset
            filterset = filterset_class(data={name: value}, queryset=queryset)
            if not filterset.is_valid():
                raise IncorrectLookupParameters(filterset.errors)
            return filterset.qs

    FilterSetListFilter.__name__ = f"{filterset_class.__name__}_{name}"
    return FilterSetListFilter
