"""Benefits' part of the customer profile: grants and redemptions on the timeline, current benefits as a section."""

from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.benefits.models import Grant, GrantState, Redemption
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

CURRENT_BENEFITS_SHOWN = 20


def grant_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    source_label, state_label = choice_labels(Grant, "source"), choice_labels(Grant, "state")
    link_to = object_links("admin:benefits_grant_change")
    return [
        row.item(
            kind="grant",
            title=_("Benefit granted: %(benefit)s") % {"benefit": row["benefit"]},
            detail=f"{source_label(row['source'])} · {state_label(row['state'])}",
            link=link_to(row.item_id),
            data={"benefit": row["benefit"], "state": row["state"]},
        )
        for row in rows
    ]


def redemption_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    channel_label = choice_labels(Redemption, "channel")
    link_to = object_links("admin:benefits_grant_change")
    return [
        row.item(
            kind="redemption",
            title=_("Benefit redeemed: %(benefit)s") % {"benefit": row["benefit"]},
            detail=channel_label(row["channel"]),
            link=link_to(row["grant"]),
            data={"benefit": row["benefit"], "channel": row["channel"]},
        )
        for row in rows
    ]


def current_benefits_summary(member: Member) -> list[dict[str, Any]]:
    now = timezone.now()
    grants = (
        Grant.objects.filter(member_id=member.pk, state=GrantState.ISSUED, valid_from__lte=now, valid_until__gt=now)
        .select_related("benefit")
        .order_by("valid_until", "id")[:CURRENT_BENEFITS_SHOWN]
    )
    return [
        {
            "benefit": str(grant.benefit),
            "category": grant.benefit.get_category_display(),
            "valid_until": "" if grant.never_expires else date_format(timezone.localtime(grant.valid_until), "SHORT_DATE_FORMAT"),
        }
        for grant in grants
    ]


def register() -> None:
    register_timeline_source(
        name="grants",
        label=gettext_lazy("Benefits granted"),
        rows=lambda member: Grant.objects.filter(member_id=member.pk),
        time_field="issued_at",
        columns={"benefit": Translated("benefit__name"), "source": "source", "state": "state"},
        items=grant_items,
    )
    restrict_timeline_source(name="grants", permission="benefits.view_grant", shown_to_member=True)
    register_timeline_source(
        name="redemptions",
        label=gettext_lazy("Redemptions"),
        # The member's grants by their index, then each one's redemption: a member has hundreds of grants, not millions.
        rows=lambda member: Redemption.objects.filter(grant__member_id=member.pk),
        time_field="redeemed_at",
        columns={"benefit": Translated("grant__benefit__name"), "channel": "channel", "grant": "grant_id"},
        items=redemption_items,
    )
    restrict_timeline_source(name="redemptions", permission="benefits.view_grant", shown_to_member=True)
    register_profile_section(
        name="benefits",
        label=gettext_lazy("Current benefits"),
        summary=current_benefits_summary,
        template="admin/benefits/profile_benefits.html",
        order=50,
    )
    restrict_profile_section(name="benefits", permission="benefits.view_grant")
