"""Clubs and events in a member's data export (PIPL)."""

from typing import Any

from apps.events.models import ClubJoinRequest, ClubMembership, Registration
from apps.members.models import Member
from apps.members.personal_data import redact_member_mentions, register_member_anonymiser, register_member_data_section


def member_registrations(member: Member) -> list[dict[str, Any]]:
    registrations = Registration.objects.filter(member=member).select_related("event").order_by("created_at", "id")
    return [
        {
            "event": r.event.title,
            "starts_at": r.event.starts_at,
            "state": r.state,
            "companions": r.companions,
            "registered_at": r.created_at,
            "promoted_at": r.promoted_at,
            "cancelled_at": r.cancelled_at,
            "checked_in_at": r.checked_in_at,
        }
        for r in registrations
    ]


def member_clubs(member: Member) -> list[dict[str, Any]]:
    memberships = ClubMembership.objects.filter(member=member).select_related("club").order_by("id")
    return [
        {
            "club": m.club.name,
            "role": m.role,
            "joined_via": m.joined_via,
            "joined_at": m.joined_at,
            "left_at": m.left_at,
            "reason": m.reason,
        }
        for m in memberships
    ]


def member_club_requests(member: Member) -> list[dict[str, Any]]:
    requests = ClubJoinRequest.objects.filter(member=member).select_related("club").order_by("id")
    return [
        {
            "club": r.club.name,
            "status": r.status,
            "message": r.message,
            "requested_at": r.created_at,
            "decided_at": r.decided_at,
            "reason": r.reason,
        }
        for r in requests
    ]


def anonymise_registration_texts(member: Member) -> None:
    redact_member_mentions(member, Registration.objects.all(), fields=["cancel_reason"])
    redact_member_mentions(member, ClubMembership.objects.all(), fields=["reason"])
    redact_member_mentions(member, ClubJoinRequest.objects.all(), fields=["message", "reason"])


def register() -> None:
    register_member_data_section(name="event_registrations", collect=member_registrations)
    register_member_anonymiser(anonymise_registration_texts)
    register_member_data_section(name="club_memberships", collect=member_clubs)
    register_member_data_section(name="club_join_requests", collect=member_club_requests)
