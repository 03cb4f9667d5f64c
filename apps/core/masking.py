"""Masked forms of personal data, for staff without the right to see it in full."""

from datetime import date

# A figure about fewer people than this can single someone out: staff and systems without the right to personal data
# see no group (survey answers, a metrics slice) smaller than it.
SMALLEST_GROUP_SHOWN = 5


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:-8]}****{phone[-4:]}"


def mask_email(email: str | None) -> str:
    if not email:
        return ""
    local, _sep, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_birthday(birthday: date | None) -> str:
    return f"{birthday.year}-**-**" if birthday else ""


def mask_identifier(value: str | None) -> str:
    """An openid, external user ID or device token: its first and last three characters, so staff can tell two apart."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:3]}****{value[-3:]}"
