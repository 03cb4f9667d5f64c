"""Rules' part of the customer profile: rule awards on the timeline, held awards awaiting review as a section."""

from collections.abc import Sequence
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.members.models import Member
from apps.members.profile_sections import register_profile_section, restrict_profile_section
from apps.members.timeline import (
    TimelineItem,
    TimelineRow,
    choice_labels,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)
from apps.rules.models import AwardStatus, RuleAward

HELD_SHOWN = 20


def award_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    status_label = choice_labels(RuleAward, "status")
    link_to = object_links("admin:rules_ruleaward_change")
    return [
        row.item(
            kind=row["status"],
            title=_("Earning rule %(rule)s") % {"rule": row["rule"]},
            detail=_("%(points)d points, %(growth)d growth value · %(status)s")
            % {"points": row["points"], "growth": row["growth"], "status": status_label(row["status"])},
            link=link_to(row.item_id),
            data={"points": row["points"], "growth": row["growth"], "status": row["status"]},
        )
        for row in rows
    ]


def held_awards_summary(member: Member) -> list[dict[str, Any]]:
    awards = (
        RuleAward.objects.filter(member_id=member.pk, status=AwardStatus.HELD)
        .select_related("rule")
        .order_by("created_at", "id")[:HELD_SHOWN]
    )
    return [
        {
            "id": award.pk,
            "rule": award.rule.name,
            "points": award.points,
            "growth": award.growth,
            "held_since": date_format(timezone.localtime(award.created_at), "SHORT_DATETIME_FORMAT"),
            "reasons": ", ".join(str(reason) for reason in award.hold_reasons),
            "url": reverse("admin:rules_ruleaward_change", args=[award.pk]),
        }
        for award in awards
    ]


def register() -> None:
    register_timeline_source(
        name="rule_awards",
        label=gettext_lazy("Earning rule awards"),
        rows=lambda member: RuleAward.objects.filter(member_id=member.pk),
        time_field="created_at",
        columns={"rule": "rule__name", "points": "points", "growth": "growth", "status": "status"},
        items=award_items,
    )
    restrict_timeline_source(name="rule_awards", permission="rules.view_ruleaward")
    register_profile_section(
        name="held_awards",
        label=gettext_lazy("Awards held for review"),
        summary=held_awards_summary,
        template="admin/rules/profile_held_awards.html",
        order=70,
        shown_to_member=False,
    )
    restrict_profile_section(name="held_awards", permission="rules.view_ruleaward")
