"""Member exports: formula-safe, with personal data masked for staff without the right to see it."""

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.masking import mask_birthday, mask_email, mask_phone
from apps.members.models import Member

EXPORT_BATCH = 2000


def export_header() -> list[str]:
    return [
        _("ID"),
        _("External ID"),
        _("Name"),
        _("Mobile phone"),
        _("Email"),
        _("City"),
        _("Tier"),
        _("Status"),
        _("Points"),
        _("Joined at"),
        _("Birthday"),
    ]


def export_rows(queryset: QuerySet[Member], *, full_pii: bool) -> Iterator[list[Any]]:
    """Stream rows in batches so an export of a million members stays small in memory."""
    for member in queryset.select_related("tier", "points_account").order_by("pk").iterator(chunk_size=EXPORT_BATCH):
        yield [
            member.pk,
            member.external_id or "",
            member.name,
            member.phone if full_pii else mask_phone(member.phone),
            member.email if full_pii else mask_email(member.email),
            member.city,
            member.tier.name,
            member.get_status_display(),
            member.points_account.balance,
            timezone.localtime(member.joined_at).strftime("%Y-%m-%d"),
            (member.birthday.isoformat() if member.birthday else "") if full_pii else mask_birthday(member.birthday),
        ]
