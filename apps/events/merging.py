"""Merging duplicate members: club memberships and requests, organiser roles and event registrations move to the
survivor; two active memberships of one club with different roles are a conflict the agent decides."""

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.events.models import Club, ClubJoinRequest, ClubMembership, JoinRequestStatus, Registration, RegistrationState
from apps.members.merging import MERGED, MergeConflict, merge_choice, register_member_merger
from apps.members.models import Member

SECTION = "clubs"


def _active(member: Member) -> dict[int, ClubMembership]:
    return {row.club_id: row for row in ClubMembership.objects.filter(member=member, left_at__isnull=True).select_related("club")}


def club_conflicts(survivor: Member, merged: Member) -> list[MergeConflict]:
    mine = _active(survivor)
    return [
        MergeConflict(SECTION, f"club_{club_id}", row.club.name, mine[club_id].get_role_display(), row.get_role_display())
        for club_id, row in _active(merged).items()
        if club_id in mine and mine[club_id].role != row.role
    ]


def move_event_rows(survivor: Member, merged: Member) -> dict[str, int]:
    now = timezone.now()
    mine = _active(survivor)
    for club_id, row in _active(merged).items():
        if club_id not in mine:
            continue
        if merge_choice(SECTION, f"club_{club_id}") == MERGED and mine[club_id].role != row.role:
            mine[club_id].role = row.role
            mine[club_id].save(update_fields=["role"])
        # The survivor's stay goes on; the merged member's ends here and joins the survivor's club history.
        row.left_at, row.reason = now, (_("Merged into member #%(member)s") % {"member": survivor.pk})[:255]
        row.save(update_fields=["left_at", "reason"])
    memberships = ClubMembership.objects.filter(member=merged).update(member=survivor)
    pending_twin = ClubJoinRequest.objects.filter(member=survivor, club=OuterRef("club"), status=JoinRequestStatus.PENDING)
    requests = (
        ClubJoinRequest.objects.filter(member=merged)
        .exclude(Q(status=JoinRequestStatus.PENDING) & Exists(pending_twin))
        .update(member=survivor)
    )
    ClubJoinRequest.objects.filter(decided_by_member=merged).update(decided_by_member=survivor)
    organised = list(Club.objects.filter(organiser_members=merged))
    for club in organised:
        club.organiser_members.add(survivor)
        club.organiser_members.remove(merged)
    # One live registration per person and event: where both hold one, the merged member's stays on its record.
    live_twin = Registration.objects.filter(member=survivor, event=OuterRef("event")).exclude(state=RegistrationState.CANCELLED)
    registrations = Registration.objects.filter(member=merged, state=RegistrationState.CANCELLED).update(member=survivor)
    registrations += (
        Registration.objects.filter(member=merged)
        .exclude(state=RegistrationState.CANCELLED)
        .exclude(Exists(live_twin))
        .update(member=survivor)
    )
    return {
        "club_memberships": memberships,
        "club_join_requests": requests,
        "organised_clubs": len(organised),
        "registrations": registrations,
    }


def register() -> None:
    register_member_merger(name="events", move=move_event_rows, conflicts=club_conflicts)
