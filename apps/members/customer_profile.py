"""What members itself adds to the customer profile: its timeline sources (points, growth value, tier changes, staff
changes) and sections (consents per channel, tags). Registered from ``MembersConfig.ready()``."""

from collections.abc import Sequence
from typing import Any

from django.db.models import Subquery
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.members.models import ConsentChannel, GrowthEntry, Member, PointsAccount, PointsEntry, TierChange
from apps.members.profile_sections import register_profile_section, restrict_profile_section
from apps.members.timeline import (
    TimelineCursor,
    TimelineItem,
    newest_rows,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)


def short_date(value: Any) -> str:
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") if value else ""


def points_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    # The account's key as a scalar subquery, not a join: the ledger's (account, time, id) index then serves the page
    # directly, where a join made the planner read and sort the member's whole ledger.
    account = PointsAccount.objects.filter(member_id=member.pk).values("pk")[:1]
    entries = newest_rows(
        PointsEntry.objects.filter(account_id=Subquery(account)), name="points", before=before, limit=limit, time_field="created_at"
    )
    link_to = object_links("admin:members_pointsentry_change")
    return [
        TimelineItem(
            at=entry.created_at,
            source="points",
            item_id=entry.pk,
            kind=entry.kind,
            title=_("%(kind)s %(amount)+d points") % {"kind": entry.get_kind_display(), "amount": entry.amount},
            detail=entry.reason_text,
            link=link_to(entry.pk),
            data={"amount": entry.amount, "balance_after": entry.balance_after},
        )
        for entry in entries
    ]


def growth_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    entries = newest_rows(
        GrowthEntry.objects.filter(member_id=member.pk), name="growth", before=before, limit=limit, time_field="created_at"
    )
    return [
        TimelineItem(
            at=entry.created_at,
            source="growth",
            item_id=entry.pk,
            kind="growth",
            title=_("%(amount)+d growth value") % {"amount": entry.amount},
            detail=entry.reason_text,
            data={"amount": entry.amount},
        )
        for entry in entries
    ]


def tier_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    changes = newest_rows(
        TierChange.objects.filter(member_id=member.pk).select_related("from_tier", "to_tier"),
        name="tiers",
        before=before,
        limit=limit,
        time_field="created_at",
    )
    return [
        TimelineItem(
            at=change.created_at,
            source="tiers",
            item_id=change.pk,
            kind=change.kind,
            title=_("%(kind)s: %(tier)s") % {"kind": change.get_kind_display(), "tier": change.to_tier},
            detail=change.reason_text,
            data={"from_tier": str(change.from_tier or ""), "to_tier": str(change.to_tier)},
        )
        for change in changes
    ]


def staff_change_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    """Versions of the member a staff user saved. Only who and when: the values (a phone, an email) stay on the
    history page, which masks them for staff without the right."""
    versions = newest_rows(
        Member.history.filter(id=member.pk, history_user__isnull=False).select_related("history_user"),
        name="staff_changes",
        before=before,
        limit=limit,
        time_field="history_date",
        id_field="history_id",
    )
    kinds = {"+": _("Created"), "~": _("Changed"), "-": _("Deleted")}
    link_to = object_links("admin:members_member_history")
    return [
        TimelineItem(
            at=version.history_date,
            source="staff_changes",
            item_id=version.history_id,
            kind="staff_change",
            title=_("%(what)s by %(user)s") % {"what": kinds.get(version.history_type, _("Changed")), "user": version.history_user},
            detail=version.history_change_reason or "",
            link=link_to(member.pk),
        )
        for version in versions
    ]


def consents_summary(member: Member) -> list[dict[str, Any]]:
    given = {consent.channel: consent for consent in member.consents.all()}
    rows = []
    for channel, label in ConsentChannel.choices:
        consent = given.get(channel)
        rows.append(
            {
                "channel": channel,
                "label": str(label),
                "granted": bool(consent and consent.granted),
                "changed_at": short_date(consent.changed_at) if consent else "",
            }
        )
    return rows


def tags_summary(member: Member) -> list[str]:
    return sorted(member.tags.values_list("name", flat=True))


def register() -> None:
    register_timeline_source(name="points", label=gettext_lazy("Points"), fetch=points_items)
    restrict_timeline_source(name="points", permission="members.view_pointsentry", shown_to_member=True)
    register_timeline_source(name="growth", label=gettext_lazy("Growth value"), fetch=growth_items)
    restrict_timeline_source(name="growth", shown_to_member=True)
    register_timeline_source(name="tiers", label=gettext_lazy("Tier changes"), fetch=tier_items)
    restrict_timeline_source(name="tiers", shown_to_member=True)
    register_timeline_source(name="staff_changes", label=gettext_lazy("Staff changes"), fetch=staff_change_items)
    register_profile_section(
        name="consents",
        label=gettext_lazy("Marketing consent"),
        summary=consents_summary,
        template="admin/members/member/section_consents.html",
        order=10,
    )
    register_profile_section(name="tags", label=gettext_lazy("Tags"), summary=tags_summary, order=20, shown_to_member=False)
    restrict_profile_section(name="tags", permission="members.view_tag")
