import django_filters
from django.db.models import F, QuerySet
from django.utils.translation import gettext_lazy as _

from apps.events.models import Event, EventKind, EventStatus


class EventFilter(django_filters.FilterSet):
    city = django_filters.CharFilter(field_name="city", label=_("City"))
    status = django_filters.ChoiceFilter(choices=EventStatus.choices, label=_("Status"))
    kind = django_filters.ChoiceFilter(choices=EventKind.choices, label=_("Kind"))
    club = django_filters.NumberFilter(field_name="club_id", label=_("Club"))
    starts_after = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte", label=_("Starts after"))
    starts_before = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt", label=_("Starts before"))
    has_seats = django_filters.BooleanFilter(method="filter_has_seats", label=_("Has seats left"))

    class Meta:
        model = Event
        fields: list[str] = []

    def filter_has_seats(self, queryset: QuerySet[Event], name: str, value: bool | None) -> QuerySet[Event]:
        if value is None:
            return queryset
        return queryset.filter(seats_taken__lt=F("capacity")) if value else queryset.filter(seats_taken__gte=F("capacity"))
