"""The member app's customer profile: /me/summary/ and /me/timeline/, the member's own and nothing staff-only."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.analytics.models import RfmScore, RfmSegment
from tests.analytics.factories import ActivityEventFactory
from tests.members.factories import MemberFactory
from tests.members.timeline_helpers import fill_every_source

pytestmark = pytest.mark.django_db


def test_summary_has_tier_points_and_only_the_sections_shown_to_members(member_client):
    api, member = member_client()
    fill_every_source(member)
    RfmScore.objects.create(member=member, recency=5, frequency=4, monetary=3, segment=RfmSegment.LOYAL, scored_at="2026-11-30T00:00:00Z")
    member.tags.create(name="high-risk")
    answer = api.get("/api/v1/me/summary/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == member.pk
    assert body["tier"]["tier"]["code"] == member.tier.code
    assert "next_expiry_at" in body["points"]
    names = [section["name"] for section in body["sections"]]
    assert {"consents", "clubs", "badges", "benefits"} <= set(names)
    assert not {"rfm", "tags", "held_awards"} & set(names)
    assert "high-risk" not in answer.content.decode()


def test_timeline_is_the_members_own_from_member_sources_and_pages_by_cursor(member_client):
    api, member = member_client()
    other = MemberFactory()
    fill_every_source(member)
    ActivityEventFactory.create_batch(5, member=other)
    seen, before = [], None
    while True:
        answer = api.get("/api/v1/me/timeline/", {"limit": 4, **({"before": before} if before else {})})
        assert answer.status_code == 200
        body = answer.json()
        seen += body["items"]
        before = body["older"]
        if before is None:
            break
    sources = {item["source"] for item in seen}
    assert {"activities", "points", "grants", "registrations", "sign_ins", "tiers"} <= sources
    assert not {"staff_changes", "rule_awards", "messages", "campaigns"} & sources
    assert [item["at"] for item in seen] == sorted((item["at"] for item in seen), reverse=True)
    assert len([item for item in seen if item["source"] == "activities"]) == member.activity_events.count()


def test_another_members_items_never_appear_and_a_staff_only_source_is_refused(member_client):
    api, _member = member_client()
    other = MemberFactory()
    ActivityEventFactory.create_batch(3, member=other)
    body = api.get("/api/v1/me/timeline/", {"source": "activities"}).json()
    assert body["items"] == []
    refused = api.get("/api/v1/me/timeline/", {"source": "staff_changes"})
    assert refused.status_code == 400
    assert "source" in refused.json()["error"]["fields"]


def test_a_forged_cursor_is_refused_naming_the_parameter(member_client):
    api, _member = member_client()
    refused = api.get("/api/v1/me/timeline/", {"before": "garbage"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_cursor"
    assert "before" in refused.json()["error"]["fields"]


def test_without_a_member_token_nothing_is_answered(api):
    assert api.get("/api/v1/me/summary/").status_code in (401, 403)
    assert api.get("/api/v1/me/timeline/").status_code in (401, 403)


def test_both_are_documented_in_the_openapi_schema():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    summary = paths["/api/v1/me/summary/"]["get"]
    timeline = paths["/api/v1/me/timeline/"]["get"]
    assert "me" in summary["tags"] and "me" in timeline["tags"]
    assert {parameter["name"] for parameter in timeline["parameters"]} >= {"before", "source", "limit"}
