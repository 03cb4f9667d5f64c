"""The member API of clubs: list and detail, join and leave (idempotent), my clubs, and organisers deciding the
requests of their own clubs only."""

import pytest

from apps.events import services
from apps.events.models import ClubJoinRequest, ClubMembership, ClubRole, JoinPolicy, JoinRequestStatus
from tests.core.factories import UserFactory
from tests.events.factories import ClubFactory, EventFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def join(api, club, key, **data):
    return api.post(f"/api/v1/me/clubs/{club.pk}/join/", data, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_club_list_filters_by_city_interest_and_joinable(member_client):
    api, member = member_client(MemberFactory(city="上海"))
    shanghai = ClubFactory(name="上海车友会", city="上海", interest="自驾")
    ClubFactory(name="北京摄影", city="北京", interest="摄影")
    gold_only = ClubFactory(name="金卡俱乐部", city="上海", join_policy=JoinPolicy.RULE)
    gold_only.rule_tiers.set([tier("gold")])
    full = ClubFactory(name="满员", city="上海", max_members=1)
    services.club_join_request(club=full, member=MemberFactory())
    mine = ClubFactory(name="我的", city="上海")
    services.club_join_request(club=mine, member=member)

    def names(**params):
        return sorted(c["name"] for c in api.get("/api/v1/clubs/", params).json()["results"])

    assert names(city="北京") == ["北京摄影"]
    assert names(interest="自驾") == ["上海车友会"]
    assert names(join_policy="rule") == ["金卡俱乐部"]
    assert names(city="上海", joinable="true") == ["上海车友会"]
    assert names(city="上海", joinable="false") == sorted(["金卡俱乐部", "满员", "我的"])
    listed = {c["name"]: c for c in api.get("/api/v1/clubs/").json()["results"]}
    assert listed["满员"]["members"] == 1 and listed["金卡俱乐部"]["join_policy"] == "rule"
    detail = api.get(f"/api/v1/clubs/{gold_only.pk}/").json()
    assert detail["rule"]["tiers"] == ["gold"] and detail["me"]["can_join"] is False and "Gold" in detail["me"]["refusal"]
    me = api.get(f"/api/v1/clubs/{shanghai.pk}/").json()["me"]
    assert (me["is_member"], me["can_join"], me["refusal"]) == (False, True, None)
    assert api.get("/api/v1/clubs/999999/").status_code == 404


def test_join_is_idempotent_and_leave_then_rejoin_works(member_client):
    api, member = member_client()
    club = ClubFactory()
    first = join(api, club, "join-1")
    assert first.status_code == 200 and first.json()["state"] == "joined" and first.json()["membership"]["role"] == "member"
    replay = join(api, club, "join-1")
    assert replay.json() == first.json() and ClubMembership.objects.filter(club=club).count() == 1
    again = join(api, club, "join-2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_in_club"
    assert [c["club"]["id"] for c in api.get("/api/v1/me/clubs/").json()["results"]] == [club.pk]
    left = api.post(f"/api/v1/me/clubs/{club.pk}/leave/", HTTP_IDEMPOTENCY_KEY="leave-1")
    assert left.json()["state"] == "left" and api.get("/api/v1/me/clubs/").json()["count"] == 0
    assert api.post(f"/api/v1/me/clubs/{club.pk}/leave/", HTTP_IDEMPOTENCY_KEY="leave-1").json() == left.json()
    assert api.post(f"/api/v1/me/clubs/{club.pk}/leave/", HTTP_IDEMPOTENCY_KEY="leave-2").status_code == 409
    assert join(api, club, "join-3").json()["state"] == "joined"
    assert ClubMembership.objects.filter(club=club, member=member).count() == 2


def test_join_refusals_name_the_reason_and_change_nothing(member_client):
    api, _member = member_client()
    ruled = ClubFactory(join_policy=JoinPolicy.RULE, rule_cities="杭州")
    refused = join(api, ruled, "r-1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "club_rule_not_met"
    assert "杭州" in refused.json()["error"]["message"]
    too_long = join(api, ClubFactory(join_policy=JoinPolicy.APPROVAL), "r-2", message="x" * 300)
    assert too_long.status_code == 400 and "message" in str(too_long.json())
    assert not ClubMembership.objects.exists() and not ClubJoinRequest.objects.exists()
    assert api.post(f"/api/v1/me/clubs/{ruled.pk}/join/", {}, format="json").status_code == 400  # no Idempotency-Key
    assert join(api, ruled, "r-3").status_code == 409


def test_organisers_decide_requests_of_their_own_club_only(member_client):
    club = ClubFactory(name="越野", join_policy=JoinPolicy.APPROVAL)
    organiser_api, organiser = member_client()
    services.club_member_add(club=club, member=organiser, actor=UserFactory(), reason="founder")
    services.club_role_set(club=club, member=organiser, role=ClubRole.ORGANISER)
    asking_api, _asking = member_client(MemberFactory(name="张伟"))
    pending = join(asking_api, club, "ask-1", message="I drive an ES8")
    assert pending.json()["state"] == "pending" and pending.json()["request_id"]
    request_id = pending.json()["request_id"]
    assert asking_api.get(f"/api/v1/clubs/{club.pk}/").json()["me"]["request_status"] == "pending"

    # Not an organiser, or an organiser of another club: the requests do not exist for them.
    other_club = ClubFactory()
    other_api, other = member_client()
    services.club_join_request(club=other_club, member=other)
    services.club_role_set(club=other_club, member=other, role=ClubRole.ORGANISER)
    for api in (asking_api, other_api):
        assert api.get(f"/api/v1/me/clubs/{club.pk}/requests/").status_code == 404
        assert api.post(f"/api/v1/me/club-requests/{request_id}/approve/", HTTP_IDEMPOTENCY_KEY="a").status_code == 404
        assert api.post(f"/api/v1/me/club-requests/{request_id}/decline/", {"reason": "x"}, HTTP_IDEMPOTENCY_KEY="d").status_code == 404
    assert ClubJoinRequest.objects.get(pk=request_id).status == JoinRequestStatus.PENDING

    listed = organiser_api.get(f"/api/v1/me/clubs/{club.pk}/requests/").json()["results"]
    assert [(r["id"], r["member_name"], r["message"]) for r in listed] == [(request_id, "张伟", "I drive an ES8")]
    no_reason = organiser_api.post(f"/api/v1/me/club-requests/{request_id}/decline/", {}, HTTP_IDEMPOTENCY_KEY="d-0")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    approved = organiser_api.post(f"/api/v1/me/club-requests/{request_id}/approve/", HTTP_IDEMPOTENCY_KEY="a-1")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert organiser_api.post(f"/api/v1/me/club-requests/{request_id}/approve/", HTTP_IDEMPOTENCY_KEY="a-1").json() == approved.json()
    twice = organiser_api.post(f"/api/v1/me/club-requests/{request_id}/decline/", {"reason": "late"}, HTTP_IDEMPOTENCY_KEY="d-1")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "join_request_decided"
    assert [c["club"]["name"] for c in asking_api.get("/api/v1/me/clubs/").json()["results"]] == ["越野"]
    assert organiser_api.get(f"/api/v1/me/clubs/{club.pk}/requests/").json()["count"] == 0


def test_a_declined_member_sees_the_reason(member_client):
    club = ClubFactory(join_policy=JoinPolicy.APPROVAL)
    organiser_api, organiser = member_client()
    services.club_member_add(club=club, member=organiser, actor=UserFactory(), reason="founder")
    services.club_role_set(club=club, member=organiser, role=ClubRole.ORGANISER)
    api, _member = member_client()
    request_id = join(api, club, "k").json()["request_id"]
    declined = organiser_api.post(f"/api/v1/me/club-requests/{request_id}/decline/", {"reason": "车主专属"}, HTTP_IDEMPOTENCY_KEY="d")
    assert declined.json()["status"] == "declined"
    me = api.get(f"/api/v1/clubs/{club.pk}/").json()["me"]
    assert me["request_status"] == "declined" and me["request_reason"] == "车主专属"


def test_members_only_event_through_the_api(member_client):
    api, member = member_client()
    club = ClubFactory(name="杭州车友会")
    event = EventFactory(club=club, members_only=True)
    assert api.get(f"/api/v1/events/{event.pk}/").json()["members_only"] is True
    refused = api.post(f"/api/v1/events/{event.pk}/register/", {"companions": 0}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "club_members_only"
    assert "杭州车友会" in refused.json()["error"]["message"]
    services.club_join_request(club=club, member=member)
    joined = api.post(f"/api/v1/events/{event.pk}/register/", {"companions": 0}, format="json", HTTP_IDEMPOTENCY_KEY="r2")
    assert joined.status_code == 201
    upcoming = api.get(f"/api/v1/clubs/{club.pk}/").json()["upcoming_events"]
    assert upcoming == [{"id": event.pk, "title": event.title, "starts_at": upcoming[0]["starts_at"], "members_only": True}]


def test_club_endpoints_need_a_member_token(trusted_client, client):
    club = ClubFactory()
    api, _ = trusted_client()
    assert api.get("/api/v1/me/clubs/").status_code in (401, 403)
    assert client.get("/api/v1/clubs/").status_code in (401, 403)
    assert client.post(f"/api/v1/me/clubs/{club.pk}/join/").status_code in (401, 403)
