"""Segment conditions on what members own and which dealer serves them, read through sales' selectors."""

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy

from apps.campaigns.conditions import _choices, _days, _strings, register_condition
from apps.sales import selectors as sales


@register_condition("owns_model", label=gettext_lazy("Owns a product of model"), operators=("any", "none"), choices=sales.model_choices)
def _owns_model(operator: str, value: Any, path: str = "owns_model") -> Q:
    owners = Q(pk__in=sales.owners_of_models(_strings(value, path)))
    return ~owners if operator == "none" else owners


@register_condition("delivered", label=gettext_lazy("Took delivery"), operators=("within_days", "not_within_days"), value_kind="number")
def _delivered(operator: str, value: Any, path: str = "delivered") -> Q:
    recent = Q(pk__in=sales.owners_delivered_within(_days(value, path)))
    return ~recent if operator == "not_within_days" else recent


@register_condition("last_dealer", label=gettext_lazy("Dealer of the last lead or delivery"), choices=sales.dealer_choices)
def _last_dealer(operator: str, value: Any, path: str = "last_dealer") -> Q:
    codes = _choices(value, path, [code for code, _name in sales.dealer_choices()])
    return Q(pk__in=sales.members_whose_last_dealer_is(codes))
