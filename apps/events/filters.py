import django_filters
from django.db.models import F, QuerySet
from django.utils.translation import gettext_lazy as _

from apps.events.models import Club, Event, EventKind, EventStatus, JoinPolicy


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


class ClubFilter(django_filters.FilterSet):
    """The member API's club list: by city, by interest, and "joinable" — clubs the asking member could join or ask to
    join now (not in it already, not full, and meeting the rule of a club joined by rule)."""

    city = django_filters.CharFilter(field_name="city", label=_("City"))
    interest = django_filters.CharFilter(field_name="interest", lookup_expr="icontains", label=_("Interest"))
    join_policy = django_filters.ChoiceFilter(field_name="join_policy", choices=JoinPolicy.choices, label=_("Join policy"))
    joinable = django_filters.BooleanFilter(method="filter_joinable", label=_("Joinable by me"))

    class Meta:
        model = Club
        fields: list[str] = []

    def filter_joinable(self, queryset: QuerySet[Club], name: str, value: bool | None) -> QuerySet[Club]:
        member = getattr(getattr(self.request, "auth", None), "member", None)
        if value is None or member is None:
            return queryset
        from apps.events.selectors import joinable_club_ids

        ids = joinable_club_ids(member=member, clubs=queryset)
        return queryset.filter(pk__in=ids) if value else queryset.exclude(pk__in=ids)
