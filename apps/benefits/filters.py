import django_filters
from django.utils.translation import gettext_lazy as _

from apps.benefits.models import Benefit, BenefitCategory, BenefitKind, BenefitStatus, Grant, GrantSource, GrantState


class GrantFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=GrantState.choices, label=_("State"))
    source = django_filters.ChoiceFilter(choices=GrantSource.choices, label=_("Source"))
    benefit = django_filters.NumberFilter(field_name="benefit_id", label=_("Benefit"))

    class Meta:
        model = Grant
        fields: list[str] = []


class BenefitFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=BenefitCategory.choices, label=_("Category"))
    status = django_filters.ChoiceFilter(choices=BenefitStatus.choices, label=_("Status"))
    kind = django_filters.ChoiceFilter(choices=BenefitKind.choices, label=_("Kind"))

    class Meta:
        model = Benefit
        fields: list[str] = []
