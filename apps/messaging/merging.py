"""Merging duplicate members: messages sent (and queued) move to the survivor."""

from apps.members.merging import reassign, register_member_merger
from apps.members.models import Member
from apps.messaging.models import Message


def move_messages(survivor: Member, merged: Member) -> dict[str, int]:
    return {"messages": reassign(Message, survivor=survivor, merged=merged)}


def register() -> None:
    register_member_merger(name="messaging", move=move_messages)
