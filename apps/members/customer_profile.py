"""What members itself adds to the customer profile: its timeline sources (points, growth value, tier changes, staff
changes) and sections (consents per channel, tags). Registered from ``MembersConfig.ready()``."""

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet, Subquery
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.reasons import render_reason
from apps.members.models import ConsentChannel, GrowthEntry, Member, PointsAccount, PointsEntry, TierChange
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


def short_date(value: Any) -> str:
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") if value else ""


def member_points(member: Member) -> QuerySet[PointsEntry]:
    # The account's key as a scalar subquery, not a join: the ledger's (account, time, id) index then serves the page
    # directly, where a join made the planner read and sort the member's whole ledger.
    return PointsEntry.objects.filter(account_id=Subquery(PointsAccount.objects.filter(member_id=member.pk).values("pk")[:1]))


REASON_COLUMNS = {"reason": "reason", "reason_code": "reason_code", "reason_params": "reason_params"}


def _reason(row: TimelineRow) -> str:
    return render_reason(row["reason_code"], row["reason_params"], row["reason"])


def points_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    kind_label = choice_labels(PointsEntry, "kind")
    link_to = object_links("admin:members_pointsentry_change")
    return [
        row.item(
            kind=row["kind"],
            title=_("%(kind)s %(amount)+d points") % {"kind": kind_label(row["kind"]), "amount": row["amount"]},
            detail=_reason(row),
            link=link_to(row.item_id),
            data={"amount": row["amount"], "balance_after": row["balance_after"]},
        )
        for row in rows
    ]


def growth_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    return [
        row.item(
            kind="growth",
            title=_("%(amount)+d growth value") % {"amount": row["amount"]},
            detail=_reason(row),
            data={"amount": row["amount"]},
        )
        for row in rows
    ]


def tier_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    kind_label = choice_labels(TierChange, "kind")
    return [
        row.item(
            kind=row["kind"],
            title=_("%(kind)s: %(tier)s") % {"kind": kind_label(row["kind"]), "tier": row["to_tier"]},
            detail=_reason(row),
            data={"from_tier": row["from_tier"] or "", "to_tier": row["to_tier"]},
        )
        for row in rows
    ]


def staff_change_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    """Versions of the member a staff user saved. Only who and when: the values (a phone, an email) stay on the
    history page, which masks them for staff without the right."""
    kinds = {"+": _("Created"), "~": _("Changed"), "-": _("Deleted")}
    link_to = object_links("admin:members_member_history")
    return [
        row.item(
            kind="staff_change",
            title=_("%(what)s by %(user)s") % {"what": kinds.get(row["type"], _("Changed")), "user": row["user"]},
            detail=row["reason"] or "",
            link=link_to(row["member"]),
        )
        for row in rows
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
    register_timeline_source(
        name="points",
        label=gettext_lazy("Points"),
        rows=member_points,
        time_field="created_at",
        columns={"kind": "kind", "amount": "amount", "balance_after": "balance_after", **REASON_COLUMNS},
        items=points_items,
    )
    restrict_timeline_source(name="points", permission="members.view_pointsentry", shown_to_member=True)
    register_timeline_source(
        name="growth",
        label=gettext_lazy("Growth value"),
        rows=lambda member: GrowthEntry.objects.filter(member_id=member.pk),
        time_field="created_at",
        columns={"amount": "amount", **REASON_COLUMNS},
        items=growth_items,
    )
    restrict_timeline_source(name="growth", shown_to_member=True)
    register_timeline_source(
        name="tiers",
        label=gettext_lazy("Tier changes"),
        rows=lambda member: TierChange.objects.filter(member_id=member.pk),
        time_field="created_at",
        columns={"kind": "kind", "from_tier": Translated("from_tier__name"), "to_tier": Translated("to_tier__name"), **REASON_COLUMNS},
        items=tier_items,
    )
    restrict_timeline_source(name="tiers", shown_to_member=True)
    register_timeline_source(
        name="staff_changes",
        label=gettext_lazy("Staff changes"),
        rows=lambda member: Member.history.filter(id=member.pk, history_user__isnull=False),
        time_field="history_date",
        id_field="history_id",
        columns={"type": "history_type", "user": "history_user__username", "reason": "history_change_reason", "member": "id"},
        items=staff_change_items,
    )
    register_profile_section(
        name="consents",
        label=gettext_lazy("Marketing consent"),
        summary=consents_summary,
        template="admin/members/member/section_consents.html",
        order=10,
    )
    register_profile_section(name="tags", label=gettext_lazy("Tags"), summary=tags_summary, order=20, shown_to_member=False)
    restrict_profile_section(name="tags", permission="members.view_tag")
