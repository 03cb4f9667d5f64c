"""Merging duplicate members: a block on either member holds for the survivor."""

from apps.abuse.models import BlockEntry
from apps.members.merging import reassign, register_member_merger
from apps.members.models import Member


def move_blocks(survivor: Member, merged: Member) -> dict[str, int]:
    return {"blocks": reassign(BlockEntry, survivor=survivor, merged=merged)}


def register() -> None:
    register_member_merger(name="abuse", move=move_blocks)
