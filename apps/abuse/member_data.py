"""A member's blocklist entries in their data export (PIPL); their reasons are scrubbed when the member is anonymised."""

from typing import Any

from apps.abuse.models import BlockEntry, BlockKind
from apps.members.models import Member
from apps.members.personal_data import redact_member_mentions, register_member_anonymiser, register_member_data_section


def member_blocks(member: Member) -> list[dict[str, Any]]:
    entries = BlockEntry.objects.filter(kind=BlockKind.MEMBER, member=member).order_by("created_at", "id")
    return list(entries.values("reason", "created_at", "until"))


def anonymise_block_reasons(member: Member) -> None:
    redact_member_mentions(member, BlockEntry.objects.all(), fields=["reason"])


def register() -> None:
    register_member_data_section(name="blocklist", collect=member_blocks)
    register_member_anonymiser(anonymise_block_reasons)
