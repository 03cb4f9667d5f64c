"""What UserOps holds about one member, for PIPL requests: export it all, or anonymise it.

Members knows only its own tables. Every later app that keeps something about a member (benefits, events,
messages, campaigns …) registers a collector (and, if it holds personal data of its own, an anonymiser) in
its ``AppConfig.ready()``, so that this app never imports them.
"""

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.redaction import redact_text
from apps.core.references import SystemRef
from apps.members.models import Member


@dataclass(frozen=True)
class MemberDataSection:
    name: str
    collect: Callable[[Member], Any]


MEMBER_DATA_SECTIONS: list[MemberDataSection] = []
MEMBER_ANONYMISERS: list[Callable[[Member], None]] = []


def register_member_data_section(*, name: str, collect: Callable[[Member], Any]) -> None:
    """Add ``collect(member)`` (JSON-serialisable) to every member data export, under ``name``."""
    if any(section.name == name for section in MEMBER_DATA_SECTIONS):
        return
    MEMBER_DATA_SECTIONS.append(MemberDataSection(name=name, collect=collect))


def register_member_anonymiser(anonymise: Callable[[Member], None]) -> None:
    """Run ``anonymise(member)`` inside the anonymisation transaction, to scrub the app's own copies of personal data."""
    if anonymise not in MEMBER_ANONYMISERS:
        MEMBER_ANONYMISERS.append(anonymise)


@functools.lru_cache(maxsize=256)
def _digits(text: str) -> str:
    """The digits of ``text``; cached, as a set-based write checks the same reason against each of thousands of members."""
    return re.sub(r"\D", "", text)


@dataclass(frozen=True)
class PersonalValues:
    """The identifiers of one member that must not end up in free text (reasons, references)."""

    phone: str
    national_phone: str
    email: str
    name: str

    def identifiers(self) -> list[str]:
        """Phone (both forms) and email: searched and redacted in every row, whoever it belongs to."""
        return [value for value in (self.phone, self.national_phone, self.email) if value]

    def all_texts(self) -> list[str]:
        """Identifiers and the name: the name is redacted only in the member's own rows (short names are common words)."""
        return [*self.identifiers(), *([self.name] if self.name else [])]

    def phone_or_email_in(self, text: str) -> bool:
        """Whether ``text`` holds the phone (in any written form) or the email."""
        if not text:
            return False
        if self.email and self.email.casefold() in text.casefold():
            return True
        return bool(self.national_phone) and self.national_phone in _digits(text)


def personal_values(member: Member) -> PersonalValues:
    phone = member.phone or ""
    digits = re.sub(r"\D", "", phone)
    national = digits[2:] if phone.startswith("+86") else digits
    return PersonalValues(phone=phone, national_phone=national, email=member.email or "", name=member.name or "")


def refuse_personal_data_in_text(member: Member, **texts: str) -> None:
    """Free text stored in append-only or shared rows must not name the member: refused, with the field. A reference
    the product built from its own keys (``SystemRef``) is not free text and is not searched."""
    values = personal_values(member)
    for field, text in texts.items():
        if not isinstance(text, SystemRef) and values.phone_or_email_in(text):
            raise ApplicationError(
                "personal_data_in_text",
                _("A reason or reference must not contain the member's phone number or email address."),
                fields={field: ""},
            )


def redact_member_mentions(member: Member, queryset: QuerySet, *, fields: Sequence[str], owner: str = "member") -> list[int]:
    """For an app's anonymiser: the member's phone and email out of ``fields`` of every row, the name out of their own rows."""
    values = personal_values(member)
    changed = redact_text(queryset, fields=fields, texts=values.identifiers())
    changed += redact_text(queryset.filter(**{owner: member.pk}), fields=fields, texts=[values.name])
    return sorted(set(changed))
