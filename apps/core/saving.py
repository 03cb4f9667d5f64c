"""Saving a back-office form without writing what services own.

A form holds the row as it was when the page was opened. Writing the whole row back would put stale
counters (stock issued, seats taken, a snapshot's size) and stale states over what services changed since,
so an edit writes only the fields staff edit, and the instance takes the service-owned values from the
locked row the caller passes.
"""

from collections.abc import Iterable

from django.db import models


def edited_fields_save(*, instance: models.Model, locked: models.Model, service_owned: Iterable[str]) -> None:
    """Save ``instance`` over ``locked`` (the same row, locked by the caller), leaving ``service_owned`` as stored."""
    owned = set(service_owned)
    for name in owned:
        setattr(instance, name, getattr(locked, name))
    edited = [field.name for field in instance._meta.concrete_fields if not field.primary_key and field.name not in owned]
    instance.save(update_fields=edited)
