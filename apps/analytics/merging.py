"""Merging duplicate members: activity moves to the survivor with its dates; the per-day roll-up adds the two members'
days together; the RFM score is the survivor's until the next scoring counts the combined activity."""

from django.db import connection

from apps.analytics.models import ActivityEvent, DailyMemberActivity, RfmScore
from apps.members.merging import reassign, register_member_merger
from apps.members.models import Member

_COUNTERS = ("events", "purchases", "revenue", "redemptions", "attendances", "referrals", "promoters", "passives", "detractors")
_ADD_SAME_DAYS = (
    "UPDATE analytics_dailymemberactivity AS mine SET "  # noqa: S608 (our own column names only)
    + ", ".join(f"{name} = mine.{name} + theirs.{name}" for name in _COUNTERS)
    + " FROM analytics_dailymemberactivity AS theirs WHERE mine.member_id = %s AND theirs.member_id = %s AND theirs.day = mine.day"
)


def move_activity(survivor: Member, merged: Member) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(_ADD_SAME_DAYS, [survivor.pk, merged.pk])
    DailyMemberActivity.objects.filter(member=merged, day__in=DailyMemberActivity.objects.filter(member=survivor).values("day")).delete()
    days = reassign(DailyMemberActivity, survivor=survivor, merged=merged)
    RfmScore.objects.filter(member=merged).delete()
    return {"activity_events": reassign(ActivityEvent, survivor=survivor, merged=merged), "activity_days": days}


def register() -> None:
    register_member_merger(name="analytics", move=move_activity)
