"""The base of every back-office list: it answers only through what it declares.

Django's admin accepts a lookup on any of the model's own fields in the URL (``?phone__startswith=+86139``) and
orders or searches by whatever a column or ``search_fields`` names. For staff who see personal data masked, each
of those turns a hidden value into a yes/no answer. Here a changelist accepts only the parameters its declared
filters consume (plus the admin's ``extra_lookups``, which links from other pages use), and ordering and search
never touch a field the user may not see.
"""

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import F, Model
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import OrderBy
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import TabularInline as UnfoldTabularInline
from unfold.views import ChangeList as UnfoldChangeList

from apps.core.admin_pagination import EstimatedCountPaginator
from apps.core.jsontext import TextJSONFormField
from apps.core.templatetags.numbers import grouped


@dataclass(frozen=True)
class PersonalFields:
    fields: frozenset[str]
    permission: str


PERSONAL_FIELDS: dict[type[Model], PersonalFields] = {}


def register_personal_fields(*, model: type[Model], fields: Iterable[str], permission: str) -> None:
    """Declare fields of ``model`` that only holders of ``permission`` may see, search, filter or sort by."""
    PERSONAL_FIELDS[model] = PersonalFields(fields=frozenset(fields), permission=permission)


def path_reveals_hidden_field(model: type[Model], path: str, request: HttpRequest) -> bool:
    """Whether a lookup, ordering or search path reaches a personal field the user may not see."""
    current: type[Model] | None = model
    for part in path.lstrip("-^=@").split(LOOKUP_SEP):
        if current is None:
            return False
        personal = PERSONAL_FIELDS.get(current)
        if personal is not None and part in personal.fields and not request.user.has_perm(personal.permission):
            return True
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        current = field.related_model if field.is_relation else None
    return False


def _ordering_name(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, OrderBy) and isinstance(item.expression, F):
        return item.expression.name
    if isinstance(item, F):
        return item.name
    return None


ModelT = TypeVar("ModelT", bound=Model)


def object_or_404(queryset: type[ModelT] | models.QuerySet[ModelT], object_id: str) -> ModelT:
    """The object of an admin URL's id, which may be any text: an id that is not one (a mistyped link) is a 404 too."""
    try:
        return get_object_or_404(queryset, pk=unquote(object_id))
    except (ValueError, ValidationError) as exc:
        raise Http404 from exc


def object_id_or_404(model: type[Model], object_id: str | int) -> None:
    """Refuse an admin URL's id that cannot be one of ``model``'s keys with a 404 rather than a failed query."""
    try:
        model._meta.pk.to_python(unquote(str(object_id)))
    except ValidationError as exc:
        raise Http404 from exc


class HistoryAdmin(SimpleHistoryAdmin):
    """The change history (django-simple-history), whose pages query an id from the URL as it is."""

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        object_id_or_404(self.model, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        object_id_or_404(self.model, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


NUMBER_FIELDS = (models.IntegerField, models.DecimalField)


def grouped_column(name: str, model_admin: Any) -> str | Callable[[Model], Any]:
    """A list column of counts, points or money shown grouped by thousands; any other column as it was.

    Model fields are grouped when they hold a number and are not a key (ids and foreign keys stay as they are); the
    admin's own columns when the value they return is a number (a text such as a phone or a code never is).
    """
    field = _concrete_field(model_admin.model, name)
    if field is not None:
        if not isinstance(field, NUMBER_FIELDS) or field.primary_key or field.is_relation:
            return name

        def column(obj: Model) -> Any:
            return grouped(getattr(obj, name))

        column.__name__ = name
        column.short_description = field.verbose_name  # type: ignore[attr-defined]
        column.admin_order_field = name  # type: ignore[attr-defined]
        return column
    method = getattr(model_admin, name, None)
    if name == "action_checkbox" or not callable(method):
        return name

    @functools.wraps(method)
    def admin_column(obj: Model) -> Any:
        return grouped(method(obj))

    return admin_column


def _concrete_field(model: type[Model], name: str) -> models.Field | None:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if field.concrete else None


class DeclaredLookupsChangeList(UnfoldChangeList):
    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        # Columns that are links or editable inputs keep their names: the admin finds them by name.
        kept = {*(self.list_display_links or ()), *self.list_editable}
        self.list_display = [
            grouped_column(name, self.model_admin) if isinstance(name, str) and name not in kept else name for name in self.list_display
        ]

    def get_filters(self, request: HttpRequest) -> tuple[Any, ...]:
        filter_specs, has_filters, remaining, may_have_duplicates, has_active_filters = super().get_filters(request)
        accepted = set(self.model_admin.get_extra_lookups(request))
        if self.date_hierarchy:
            accepted |= {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
        refused = sorted(set(remaining) - accepted)
        if refused:
            raise DisallowedModelAdminLookup(f"Filtering by {', '.join(refused)} not allowed")
        return filter_specs, has_filters, remaining, may_have_duplicates, has_active_filters

    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        ordering = super().get_ordering(request, queryset)
        return [item for item in ordering if not self._hides(request, _ordering_name(item))]

    def _hides(self, request: HttpRequest, name: str | None) -> bool:
        return name is not None and path_reveals_hidden_field(self.model, name, request)


class TextJSONFormFields:
    """JSON inputs that refuse lone surrogate escapes on the field (``TextJSONFormField``), in every admin and inline."""

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.JSONField):
            kwargs.setdefault("form_class", TextJSONFormField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]


class TabularInline(TextJSONFormFields, UnfoldTabularInline):
    """The base of the product's inlines."""


class ModelAdmin(TextJSONFormFields, UnfoldModelAdmin):
    """Every admin of the product derives from this one (a test checks), so no list answers from a hidden value.

    Nor does any list count a whole table on a page view: the paginator estimates a large unfiltered list and caps
    a filtered count, and the "N total" beside a filtered count is not asked for.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    # Lookups other pages link with, beyond the declared filters (e.g. one member's grants: ``member__id__exact``).
    extra_lookups: Sequence[str] = ()

    def get_extra_lookups(self, request: HttpRequest) -> list[str]:
        return [lookup for lookup in self.extra_lookups if not path_reveals_hidden_field(self.model, lookup, request)]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if request is not None and path_reveals_hidden_field(self.model, lookup, request):
            return False
        if request is not None and lookup in self.get_extra_lookups(request):
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[DeclaredLookupsChangeList]:
        return DeclaredLookupsChangeList

    def get_actions_detail(self, request: HttpRequest, object_id: str) -> list[Any]:
        # Subclasses look the object up to choose the buttons; an id that cannot be one is a 404 before they do.
        object_id_or_404(self.model, object_id)
        return super().get_actions_detail(request, object_id)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [field for field in super().get_search_fields(request) if not path_reveals_hidden_field(self.model, field, request)]
