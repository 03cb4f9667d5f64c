"""Analytics' part of the customer profile: the member's activities on the timeline, the RFM segment as a section."""

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy

from apps.analytics.models import ActivityEvent, ActivityKind, RegisteredActivityKind, RfmScore
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


def activity_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    registered = {}
    if any(row["kind"] not in ActivityKind.values for row in rows):
        registered = {kind.code: str(kind) for kind in RegisteredActivityKind.objects.all()}
    channel_label = choice_labels(ActivityEvent, "channel")
    link_to = object_links("admin:analytics_activityevent_change")
    return [
        row.item(
            kind=row["kind"],
            title=str(ActivityKind(row["kind"]).label) if row["kind"] in ActivityKind.values else registered.get(row["kind"], row["kind"]),
            detail=f"¥{row['amount']}" if row["amount"] is not None else channel_label(row["channel"]),
            link=link_to(row.item_id),
            data={"amount": str(row["amount"]) if row["amount"] is not None else None},
        )
        for row in rows
    ]


def rfm_summary(member: Member) -> dict[str, Any] | None:
    score = RfmScore.objects.filter(member_id=member.pk).first()
    if score is None:
        return None
    return {
        "segment": score.segment,
        "label": score.get_segment_display(),
        "recency": score.recency,
        "frequency": score.frequency,
        "monetary": score.monetary,
        "last_purchase_day": score.last_purchase_day.isoformat() if score.last_purchase_day else None,
    }


def register() -> None:
    register_timeline_source(
        name="activities",
        label=gettext_lazy("Activities"),
        rows=lambda member: ActivityEvent.objects.filter(member_id=member.pk),
        time_field="occurred_at",
        columns={"kind": "kind", "amount": "amount", "channel": "channel"},
        items=activity_items,
    )
    restrict_timeline_source(name="activities", permission="analytics.view_activityevent", shown_to_member=True)
    register_profile_section(
        name="rfm",
        label=gettext_lazy("RFM segment"),
        summary=rfm_summary,
        template="admin/analytics/profile_rfm.html",
        order=30,
        shown_to_member=False,
    )
    restrict_profile_section(name="rfm", permission="analytics.view_rfmscore")
