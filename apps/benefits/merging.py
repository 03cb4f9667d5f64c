"""Merging duplicate members: grants (with their redemptions) and grants still pending move to the survivor."""

from apps.benefits.models import Grant, PendingGrant
from apps.members.merging import reassign, register_member_merger
from apps.members.models import Member


def move_grants(survivor: Member, merged: Member) -> dict[str, int]:
    # A grant given once per source (a campaign run, an earning) that both members received stays with the merged one.
    moved = Grant.objects.filter(member=merged, source_ref="").update(member=survivor)
    moved += reassign(Grant, survivor=survivor, merged=merged, unique_with=["benefit", "source", "source_ref"])
    pending = reassign(PendingGrant, survivor=survivor, merged=merged, unique_with=["benefit", "source", "source_ref"])
    return {"grants": moved, "pending_grants": pending}


def register() -> None:
    register_member_merger(name="benefits", move=move_grants)
