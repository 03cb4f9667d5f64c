"""Member exports: formula-safe, with personal data masked for staff without the right to see it.

The columns are the member import's own, headed as the importer reads them in the operator's language, so an
export imported again (the round trip of a migration or a bulk edit in Excel) finds every member unchanged.
"""

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import get_language

from apps.core.masking import mask_birthday, mask_email, mask_phone
from apps.members.models import Gender, Member

EXPORT_BATCH = 2000
# The export's columns, headed as the member import reads them (apps/imports/parsing.py), in the operator's language.
EXPORT_HEADERS = {
    "en": [
        ("external_id", "External ID"),
        ("name", "Name"),
        ("phone", "Mobile phone"),
        ("email", "Email"),
        ("city", "City"),
        ("joined_at", "Joined at"),
        ("tier", "Tier"),
        ("points", "Points"),
        ("gender", "Gender"),
        ("birthday", "Birthday"),
        ("status", "Status"),
        ("system_id", "System ID"),
    ],
    "zh-hans": [
        ("external_id", "外部编号"),
        ("name", "姓名"),
        ("phone", "手机号"),
        ("email", "邮箱"),
        ("city", "城市"),
        ("joined_at", "入会时间"),
        ("tier", "会员等级"),
        ("points", "积分"),
        ("gender", "性别"),
        ("birthday", "生日"),
        ("status", "状态"),
        ("system_id", "系统编号"),
    ],
}


def export_header_pairs(language: str) -> list[tuple[str, str]]:
    """(field, header) of the member export in ``language`` (English unless it is Chinese)."""
    return EXPORT_HEADERS["zh-hans" if language.lower().startswith("zh") else "en"]


def export_header() -> list[str]:
    return [header for _field, header in export_header_pairs(get_language() or "en")]


def export_rows(queryset: QuerySet[Member], *, full_pii: bool) -> Iterator[list[Any]]:
    """Stream rows in batches so an export of a million members stays small in memory."""
    fields = [field for field, _header in export_header_pairs(get_language() or "en")]
    for member in queryset.select_related("tier", "points_account").order_by("pk").iterator(chunk_size=EXPORT_BATCH):
        values = {
            "external_id": member.external_id or "",
            "name": member.name,
            "phone": member.phone if full_pii else mask_phone(member.phone),
            "email": member.email if full_pii else mask_email(member.email),
            "city": member.city,
            "joined_at": member.joined_at,
            "tier": member.tier.name,
            "points": member.points_account.balance,
            "gender": "" if member.gender == Gender.UNKNOWN else member.get_gender_display(),
            "birthday": member.birthday if full_pii else mask_birthday(member.birthday),
            "status": member.get_status_display(),
            "system_id": member.pk,
        }
        yield [values[field] for field in fields]
