"""Clubs in segments, segments in club rules, and the club page. Events and campaigns are both level 3 and cannot import each other, so
the club conditions join the campaigns' registry from here (analytics sits above both), a club "by rule" tests its
saved segment through the events app's segment-rule registry, and the club page's activity
section is computed here and plugged into the events app's club-page registry. Imported from AnalyticsConfig.ready().
"""

from typing import Any

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy

from apps.analytics.selectors.clubs import club_activity
from apps.campaigns.conditions import _choices, register_condition
from apps.campaigns.models import Segment
from apps.campaigns.selectors import segment_members
from apps.events.club_page import register_club_page_section
from apps.events.club_rules import SegmentRule, register_segment_rule
from apps.events.models import Club, ClubMembership, ClubRole
from apps.members.models import Member


def _club_choices() -> list[tuple[str, Any]]:
    return [(str(pk), name) for pk, name in Club.objects.order_by("name").values_list("pk", "name")]


def _role_choices() -> list[tuple[str, Any]]:
    """A role in any club ("organiser"), or in one club ("organiser@12")."""
    choices: list[tuple[str, Any]] = [(role, label) for role, label in ClubRole.choices]
    for pk, name in Club.objects.order_by("name").values_list("pk", "name"):
        choices += [(f"{role}@{pk}", f"{label} · {name}") for role, label in ClubRole.choices]
    return choices


def _current() -> Any:
    return ClubMembership.objects.filter(left_at__isnull=True)


@register_condition("club", label=gettext_lazy("Member of club"), operators=("in", "not_in"), choices=_club_choices)
def _club(operator: str, value: Any, path: str = "club") -> Q:
    """A current member of one of the clubs (club ids); ``not_in``: of none of them."""
    club_ids = [int(pk) for pk in _choices(value, path, [pk for pk, _label in _club_choices()])]
    inside = Q(pk__in=_current().filter(club_id__in=club_ids).values("member_id"))
    return ~inside if operator == "not_in" else inside


@register_condition("club_role", label=gettext_lazy("Club role"), choices=_role_choices)
def _club_role(operator: str, value: Any, path: str = "club_role") -> Q:
    """Holds one of the roles now: in any club (``organiser``) or in one club (``organiser@<club id>``)."""
    wanted = _choices(value, path, [choice for choice, _label in _role_choices()])
    match = Q()
    for item in wanted:
        role, _sep, club_id = item.partition("@")
        match |= Q(role=role, club_id=int(club_id)) if club_id else Q(role=role)
    return Q(pk__in=_current().filter(match).values("member_id"))


def club_activity_section(club: Club) -> SafeString:
    return render_to_string("admin/analytics/club_activity.html", {"activity": club_activity(club=club)})


def _segment_choices() -> list[tuple[int, Any]]:
    return list(Segment.objects.order_by("name").values_list("pk", "name"))


def _segment_contains(segment_id: int, member: Member) -> bool:
    segment = Segment.objects.filter(pk=segment_id).first()
    return segment is not None and segment_members(segment=segment).filter(pk=member.pk).exists()


def _segment_name(segment_id: int) -> str:
    return Segment.objects.filter(pk=segment_id).values_list("name", flat=True).first() or f"#{segment_id}"


def register() -> None:
    register_segment_rule(SegmentRule(choices=_segment_choices, contains=_segment_contains, name=_segment_name))
    register_club_page_section(
        name="club_activity",
        title=gettext_lazy("Activity of its members (last 30 days)"),
        permission="analytics.view_activityevent",
        render=club_activity_section,
    )
