"""Counts and amounts grouped by thousands in the reader's language; anything else (dates, codes) as it is."""

from decimal import Decimal
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def grouped(value: Any) -> Any:
    """``intcomma`` for numbers only: a date, an id written as text or a year never gets a separator."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return value
    return intcomma(value)
