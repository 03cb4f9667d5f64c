"""Merging duplicate members: rule awards move to the survivor, and cap counters add up, so one person's caps count
what both records earned."""

from django.db import connection

from apps.members.merging import reassign, register_member_merger
from apps.members.models import Member
from apps.rules.models import RuleAward, RuleCounter

_ADD_SAME_PERIODS = (
    "UPDATE rules_rulecounter AS mine SET count = mine.count + theirs.count, points = mine.points + theirs.points"
    " FROM rules_rulecounter AS theirs WHERE mine.member_id = %s AND theirs.member_id = %s"
    " AND theirs.rule_id = mine.rule_id AND theirs.period = mine.period AND theirs.period_start = mine.period_start"
)


def move_rule_rows(survivor: Member, merged: Member) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(_ADD_SAME_PERIODS, [survivor.pk, merged.pk])
        added = cursor.rowcount
    counters = reassign(RuleCounter, survivor=survivor, merged=merged, unique_with=["rule", "period", "period_start"])
    RuleCounter.objects.filter(member=merged).delete()
    return {"rule_awards": reassign(RuleAward, survivor=survivor, merged=merged), "rule_counters": counters + added}


def register() -> None:
    register_member_merger(name="rules", move=move_rule_rows)
