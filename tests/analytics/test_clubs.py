"""Clubs in segments ("member of club", "club role") and the club page's activity panel, which counts the community
contributions the member app reports through the activity batch API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.analytics.selectors.clubs import club_activity
from apps.campaigns.conditions import CONDITIONS, compile_rules
from apps.core.errors import ApplicationError
from apps.core.models import ApiScope
from apps.core.roles import CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services
from apps.events.models import Club, ClubMembership, ClubRole, JoinPolicy
from apps.members.models import Member
from tests.campaigns.factories import SegmentFactory
from tests.core.factories import UserFactory
from tests.events.factories import ClubFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def members(rules) -> set[int]:
    return set(Member.objects.filter(compile_rules(rules)).values_list("pk", flat=True))


def test_member_of_club_and_club_role_conditions():
    shanghai, hangzhou = ClubFactory(name="上海"), ClubFactory(name="杭州")
    inside, organiser, former, outsider = MemberFactory.create_batch(4)
    services.club_join_request(club=shanghai, member=inside)
    services.club_join_request(club=hangzhou, member=organiser)
    services.club_role_set(club=hangzhou, member=organiser, role=ClubRole.ORGANISER)
    services.club_join_request(club=shanghai, member=former)
    services.club_leave(club=shanghai, member=former)

    assert members({"field": "club", "value": [str(shanghai.pk)]}) == {inside.pk}
    assert members({"field": "club", "value": [str(shanghai.pk), str(hangzhou.pk)]}) == {inside.pk, organiser.pk}
    assert members({"field": "club", "operator": "not_in", "value": [str(shanghai.pk)]}) == {organiser.pk, former.pk, outsider.pk}
    assert members({"field": "club_role", "value": ["organiser"]}) == {organiser.pk}
    assert members({"field": "club_role", "value": [f"organiser@{shanghai.pk}"]}) == set()
    assert members({"field": "club_role", "value": [f"member@{shanghai.pk}", f"organiser@{hangzhou.pk}"]}) == {inside.pk, organiser.pk}
    both = {"op": "and", "conditions": [{"field": "club", "value": [str(hangzhou.pk)]}, {"field": "club_role", "value": ["organiser"]}]}
    assert members(both) == {organiser.pk}
    labels = dict(CONDITIONS["club_role"].choices())
    assert labels[f"organiser@{hangzhou.pk}"] == "Organiser · 杭州"


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"field": "club", "value": ["999999"]}, "rules.club"),
        ({"field": "club", "value": []}, "rules.club"),
        ({"field": "club_role", "value": ["king"]}, "rules.club_role"),
        ({"field": "club_role", "operator": "any", "value": ["member"]}, "rules"),
    ],
)
def test_bad_club_conditions_are_refused_with_the_path(rule, path):
    ClubFactory()
    with pytest.raises(ApplicationError) as refused:
        compile_rules(rule)
    assert refused.value.code == "invalid_segment_rule" and refused.value.message.startswith(path)


def test_community_contributions_reported_in_a_batch_are_stored_and_counted_on_the_club_page(trusted_client, client, staff):
    club = ClubFactory(name="上海车友会")
    poster, liker, outsider = MemberFactory.create_batch(3)
    for member in (poster, liker):
        services.club_join_request(club=club, member=member)
    api, _ = trusted_client([ApiScope.ACTIVITY_WRITE])
    now = timezone.localtime()
    at = (now - timedelta(hours=2)).isoformat()
    old = (now - timedelta(days=40)).isoformat()
    events = [
        {"event_id": "post-1", "member_id": poster.pk, "kind": "community_post", "occurred_at": at, "channel": "app",
         "properties": {"post_id": "P-1", "club_id": club.pk}},
        {"event_id": "comment-1", "member_id": liker.pk, "kind": "community_comment", "occurred_at": at, "channel": "app"},
        {"event_id": "like-1", "member_id": poster.pk, "kind": "like_received", "occurred_at": at, "channel": "app"},
        {"event_id": "like-2", "member_id": poster.pk, "kind": "like_received", "occurred_at": at, "channel": "app"},
        {"event_id": "share-1", "member_id": liker.pk, "kind": "share", "occurred_at": at, "channel": "app"},
        {"event_id": "featured-1", "member_id": poster.pk, "kind": "content_featured", "occurred_at": at, "channel": "app"},
        {"event_id": "post-old", "member_id": poster.pk, "kind": "community_post", "occurred_at": old, "channel": "app"},
        {"event_id": "post-x", "member_id": outsider.pk, "kind": "community_post", "occurred_at": at, "channel": "app"},
    ]  # fmt: skip
    response = api.post("/api/v1/activity/batch/", {"events": events}, format="json", HTTP_IDEMPOTENCY_KEY="community-1")
    assert response.status_code == 200 and response.json()["created"] == 8
    assert ActivityEvent.objects.get(event_id="post-1").properties == {"post_id": "P-1", "club_id": club.pk}

    activity = club_activity(club=club)
    counts = {row.kind: (row.events, row.members) for row in activity.rows}
    assert counts == {
        "like_received": (2, 1),
        "community_post": (1, 1),
        "community_comment": (1, 1),
        "share": (1, 1),
        "content_featured": (1, 1),
    }
    assert activity.active_members == 2 and activity.community_events == 6

    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:events_club_change", args=[club.pk])).content.decode()
    assert 'data-testid="club-activity"' in page and 'data-kind="like_received"' in page and "6 community contributions" in page
    client.force_login(UserFactory(role=CUSTOMER_SERVICE))
    assert 'data-testid="club-activity"' not in client.get(reverse("admin:events_club_change", args=[club.pk])).content.decode()


def test_a_club_by_rule_admits_the_members_of_its_saved_segment(client, staff):

    segment = SegmentFactory(name="金卡会员", rules={"op": "and", "conditions": [{"field": "tier", "value": ["gold"]}]})
    club = ClubFactory(name="金卡会", join_policy=JoinPolicy.RULE, rule_segment_id=segment.pk)
    gold, basic = MemberFactory(tier=tier("gold")), MemberFactory()
    assert services.club_join_request(club=club, member=gold).state == "joined"
    with pytest.raises(ApplicationError) as refused:
        services.club_join_request(club=club, member=basic)
    assert refused.value.code == "club_rule_not_met" and "金卡会员" in refused.value.message
    assert list(ClubMembership.objects.filter(club=club).values_list("member_id", flat=True)) == [gold.pk]

    segment.delete()  # a rule whose segment is gone admits nobody
    with pytest.raises(ApplicationError):
        services.club_join_request(club=club, member=MemberFactory(tier=tier("gold")))

    other = SegmentFactory(name="上海会员", rules={"op": "and", "conditions": [{"field": "city", "value": ["上海"]}]})
    client.force_login(staff(OPERATIONS_MANAGER))
    form = client.get(reverse("admin:events_club_add")).context_data["adminform"].form
    assert (other.pk, "上海会员") in form.fields["rule_segment_id"].choices
    response = client.post(reverse("admin:events_club_add"), {"name": "上海会", "join_policy": "rule", "rule_segment_id": other.pk})
    assert response.status_code == 302
    assert Club.objects.get(name="上海会").rule_segment_id == other.pk


def test_club_detail_names_the_rule_segment(member_client):

    segment = SegmentFactory(name="车主人群", rules={"op": "and", "conditions": [{"field": "city", "value": ["杭州"]}]})
    club = ClubFactory(join_policy=JoinPolicy.RULE, rule_segment_id=segment.pk)
    api, _member = member_client()
    detail = api.get(f"/api/v1/clubs/{club.pk}/").json()
    assert detail["rule"]["segment"] == "车主人群" and detail["me"]["can_join"] is False
    assert "车主人群" in detail["me"]["refusal"]
    assert api.get("/api/v1/clubs/", {"joinable": "true"}).json()["count"] == 0
