"""What UserOps holds about one member, for PIPL requests: export it all, or anonymise it.

Members knows only its own tables. Every later app that keeps something about a member (benefits, events,
messages, campaigns …) registers a collector (and, if it holds personal data of its own, an anonymiser) in
its ``AppConfig.ready()``, so that this app never imports them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
