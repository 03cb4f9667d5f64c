"""Events' part of the customer profile: registrations and check-ins on the timeline, clubs as a section."""

from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.events.models import ClubMembership, Registration
from apps.members.models import Member
from apps.members.profile_sections import register_profile_section, restrict_profile_section
from apps.members.timeline import (
    TimelineCursor,
    TimelineItem,
    newest_rows,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)


def registration_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    registrations = newest_rows(
        Registration.objects.filter(member_id=member.pk).select_related("event"),
        name="registrations",
        before=before,
        limit=limit,
        time_field="created_at",
    )
    link_to = object_links("admin:events_registration_change")
    return [
        TimelineItem(
            at=registration.created_at,
            source="registrations",
            item_id=registration.pk,
            kind="registration",
            title=_("Registered for %(event)s") % {"event": registration.event},
            detail=registration.get_state_display(),
            link=link_to(registration.pk),
            data={"event": str(registration.event), "state": registration.state},
        )
        for registration in registrations
    ]


def check_in_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    registrations = newest_rows(
        Registration.objects.filter(member_id=member.pk, checked_in_at__isnull=False).select_related("event"),
        name="check_ins",
        before=before,
        limit=limit,
        time_field="checked_in_at",
    )
    link_to = object_links("admin:events_registration_change")
    return [
        TimelineItem(
            at=registration.checked_in_at,
            source="check_ins",
            item_id=registration.pk,
            kind="check_in",
            title=_("Checked in at %(event)s") % {"event": registration.event},
            link=link_to(registration.pk),
            data={"event": str(registration.event)},
        )
        for registration in registrations
    ]


def clubs_summary(member: Member) -> list[dict[str, Any]]:
    memberships = (
        ClubMembership.objects.filter(member_id=member.pk, left_at__isnull=True).select_related("club").order_by("club__name", "id")
    )
    return [
        {
            "club": membership.club.name,
            "role": membership.get_role_display(),
            "joined_at": date_format(timezone.localtime(membership.joined_at), "SHORT_DATE_FORMAT"),
        }
        for membership in memberships
    ]


def register() -> None:
    register_timeline_source(name="registrations", label=gettext_lazy("Event registrations"), fetch=registration_items)
    restrict_timeline_source(name="registrations", permission="events.view_registration", shown_to_member=True)
    register_timeline_source(name="check_ins", label=gettext_lazy("Check-ins"), fetch=check_in_items)
    restrict_timeline_source(name="check_ins", permission="events.view_registration", shown_to_member=True)
    register_profile_section(
        name="clubs", label=gettext_lazy("Clubs"), summary=clubs_summary, template="admin/events/profile_clubs.html", order=40
    )
    restrict_profile_section(name="clubs", permission="events.view_clubmembership")
