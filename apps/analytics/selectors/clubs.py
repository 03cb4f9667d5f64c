"""What a club's current members did lately: counts by activity kind, read from the activity log through its
(member, occurred_at) index, so an event the member app reported a minute ago is already counted."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from apps.analytics.models import ActivityEvent, ActivityKind
from apps.events.models import Club
from apps.events.selectors import club_member_ids

COMMUNITY_KINDS = (
    ActivityKind.COMMUNITY_POST,
    ActivityKind.COMMUNITY_COMMENT,
    ActivityKind.LIKE_RECEIVED,
    ActivityKind.SHARE,
    ActivityKind.CONTENT_FEATURED,
)


@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    events: int
    members: int
    community: bool


@dataclass(frozen=True)
class ClubActivity:
    days: int
    active_members: int
    rows: list[KindCount]

    @property
    def community_events(self) -> int:
        return sum(row.events for row in self.rows if row.community)


def club_activity(*, club: Club, days: int = 30, now: datetime | None = None) -> ClubActivity:
    """Events per kind, and how many of the club's current members did each, over the last ``days`` days."""
    since = (now or timezone.now()) - timedelta(days=days)
    recent = ActivityEvent.objects.filter(member_id__in=club_member_ids(club=club), occurred_at__gte=since)
    labels = dict(ActivityKind.choices)
    counted = recent.values("kind").annotate(events=Count("id"), members=Count("member_id", distinct=True)).order_by("-events", "kind")
    rows = [
        KindCount(
            kind=row["kind"],
            label=str(labels.get(row["kind"], row["kind"])),
            events=row["events"],
            members=row["members"],
            community=row["kind"] in COMMUNITY_KINDS,
        )
        for row in counted
    ]
    return ClubActivity(days=days, active_members=recent.values("member_id").distinct().count(), rows=rows)
