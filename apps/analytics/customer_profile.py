"""Analytics' part of the customer profile: the member's activities on the timeline, the RFM segment as a section."""

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy

from apps.analytics.models import ActivityEvent, ActivityKind, RegisteredActivityKind, RfmScore
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


def activity_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    events = newest_rows(
        ActivityEvent.objects.filter(member_id=member.pk).only("id", "kind", "occurred_at", "amount", "source", "channel"),
        name="activities",
        before=before,
        limit=limit,
        time_field="occurred_at",
    )
    registered = {}
    if any(event.kind not in ActivityKind.values for event in events):
        registered = {kind.code: str(kind) for kind in RegisteredActivityKind.objects.all()}
    link_to = object_links("admin:analytics_activityevent_change")
    return [
        TimelineItem(
            at=event.occurred_at,
            source="activities",
            item_id=event.pk,
            kind=event.kind,
            title=str(ActivityKind(event.kind).label) if event.kind in ActivityKind.values else registered.get(event.kind, event.kind),
            detail=f"¥{event.amount}" if event.amount is not None else event.get_channel_display(),
            link=link_to(event.pk),
            data={"amount": str(event.amount) if event.amount is not None else None},
        )
        for event in events
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
    register_timeline_source(name="activities", label=gettext_lazy("Activities"), fetch=activity_items)
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
