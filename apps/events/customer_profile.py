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
    TimelineItem,
    TimelineRow,
    Translated,
    choice_labels,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)


def registration_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    state_label = choice_labels(Registration, "state")
    link_to = object_links("admin:events_registration_change")
    return [
        row.item(
            kind="registration",
            title=_("Registered for %(event)s") % {"event": row["event"]},
            detail=state_label(row["state"]),
            link=link_to(row.item_id),
            data={"event": row["event"], "state": row["state"]},
        )
        for row in rows
    ]


def check_in_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    link_to = object_links("admin:events_registration_change")
    return [
        row.item(
            kind="check_in",
            title=_("Checked in at %(event)s") % {"event": row["event"]},
            link=link_to(row.item_id),
            data={"event": row["event"]},
        )
        for row in rows
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
    register_timeline_source(
        name="registrations",
        label=gettext_lazy("Event registrations"),
        rows=lambda member: Registration.objects.filter(member_id=member.pk),
        time_field="created_at",
        columns={"event": Translated("event__title"), "state": "state"},
        items=registration_items,
    )
    restrict_timeline_source(name="registrations", permission="events.view_registration", shown_to_member=True)
    register_timeline_source(
        name="check_ins",
        label=gettext_lazy("Check-ins"),
        rows=lambda member: Registration.objects.filter(member_id=member.pk, checked_in_at__isnull=False),
        time_field="checked_in_at",
        columns={"event": Translated("event__title")},
        items=check_in_items,
    )
    restrict_timeline_source(name="check_ins", permission="events.view_registration", shown_to_member=True)
    register_profile_section(
        name="clubs", label=gettext_lazy("Clubs"), summary=clubs_summary, template="admin/events/profile_clubs.html", order=40
    )
    restrict_profile_section(name="clubs", permission="events.view_clubmembership")
