"""Removing a person's identifiers from free text that was stored before it was checked."""

from collections.abc import Iterable, Sequence

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Replace

REDACTED = "[redacted]"


def redact_text(queryset: QuerySet, *, fields: Sequence[str], texts: Iterable[str]) -> list[int]:
    """Replace every occurrence of ``texts`` in ``fields`` of the rows of ``queryset``; return the IDs changed.

    Longer texts are replaced first, so an E.164 phone goes before the national number it contains.
    """
    texts = sorted({text for text in texts if text}, key=len, reverse=True)
    if not texts:
        return []
    condition = Q()
    for field in fields:
        for text in texts:
            condition |= Q(**{f"{field}__contains": text})
    ids = list(queryset.filter(condition).values_list("pk", flat=True))
    if ids:
        updates = {}
        for field in fields:
            expression = F(field)
            for text in texts:
                expression = Replace(expression, Value(text), Value(REDACTED))
            updates[field] = expression
        queryset.model._default_manager.filter(pk__in=ids).update(**updates)
    return ids
