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
    TimelineCursor,
    TimelineItem,
    newest_rows,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)

CURRENT_BENEFITS_SHOWN = 20


def grant_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    grants = newest_rows(
        Grant.objects.filter(member_id=member.pk).select_related("benefit"),
        name="grants",
        before=before,
        limit=limit,
        time_field="issued_at",
    )
    link_to = object_links("admin:benefits_grant_change")
    return [
        TimelineItem(
            at=grant.issued_at,
            source="grants",
            item_id=grant.pk,
            kind="grant",
            title=_("Benefit granted: %(benefit)s") % {"benefit": grant.benefit},
            detail=f"{grant.get_source_display()} · {grant.get_state_display()}",
            link=link_to(grant.pk),
            data={"benefit": str(grant.benefit), "state": grant.state},
        )
        for grant in grants
    ]


def redemption_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    # The member's grants by their index, then each one's redemption: a member has hundreds of grants, not millions.
    redemptions = newest_rows(
        Redemption.objects.filter(grant__member_id=member.pk).select_related("grant__benefit"),
        name="redemptions",
        before=before,
        limit=limit,
        time_field="redeemed_at",
    )
    link_to = object_links("admin:benefits_grant_change")
    return [
        TimelineItem(
            at=redemption.redeemed_at,
            source="redemptions",
            item_id=redemption.pk,
            kind="redemption",
            title=_("Benefit redeemed: %(benefit)s") % {"benefit": redemption.grant.benefit},
            detail=redemption.get_channel_display(),
            link=link_to(redemption.grant_id),
            data={"benefit": str(redemption.grant.benefit), "channel": redemption.channel},
        )
        for redemption in redemptions
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
    register_timeline_source(name="grants", label=gettext_lazy("Benefits granted"), fetch=grant_items)
    restrict_timeline_source(name="grants", permission="benefits.view_grant", shown_to_member=True)
    register_timeline_source(name="redemptions", label=gettext_lazy("Redemptions"), fetch=redemption_items)
    restrict_timeline_source(name="redemptions", permission="benefits.view_grant", shown_to_member=True)
    register_profile_section(
        name="benefits",
        label=gettext_lazy("Current benefits"),
        summary=current_benefits_summary,
        template="admin/benefits/profile_benefits.html",
        order=50,
    )
    restrict_profile_section(name="benefits", permission="benefits.view_grant")
