"""POST /api/v1/leads/: batches, per-lead errors naming the field, idempotency, the scope; the member API converts prospects."""

import re

import pytest

from apps.core.models import ApiScope
from apps.members.models import Member, MemberStatus
from apps.sales.models import Lead, LeadOutcome
from apps.sales.services import MAX_LEADS_PER_BATCH
from tests.members.factories import MemberFactory
from tests.sales.factories import DealerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"


def lead(ref: str, **fields):
    return {"source_ref": ref, "name": "李雷", "phone": "13800138000", "dealer": "SH001", "channel": "online", "interest": "ES6", **fields}


def test_a_batch_stores_good_leads_and_lists_bad_ones_by_index_and_field(trusted_client):
    DealerFactory(code="SH001")
    member = MemberFactory(phone="+8613900139000")
    api, client = trusted_client([ApiScope.LEADS_WRITE])
    batch = [
        lead("W-1"),
        lead("W-2", phone="139 0013 9000"),
        lead("W-3", phone="12"),
        lead("W-4", dealer="ZZ999"),
        lead("W-5", name=""),
        lead("W-6", colour="red"),
        "not an object",
    ]
    response = api.post(URL, {"leads": batch}, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 0, 5)
    items = body["items"]
    assert [item["status"] for item in items[:2]] == ["created", "created"]
    assert Lead.objects.get(source_ref="W-2").member_id == member.pk
    assert [(i["index"], i["field"]) for i in items[2:]] == [(2, "phone"), (3, "dealer"), (4, "name"), (5, "colour"), (6, "leads")]
    assert "ZZ999" in items[3]["message"]
    assert Lead.objects.get(source_ref="W-1").source_system == client.name
    assert Member.objects.get(phone="+8613800138000").status == MemberStatus.PROSPECT


def test_a_redelivery_is_a_duplicate_and_a_retried_request_replays(trusted_client):
    DealerFactory(code="SH001")
    api, _client = trusted_client([ApiScope.LEADS_WRITE])
    first = api.post(URL, {"leads": [lead("W-1")]}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = api.post(URL, {"leads": [lead("W-1")]}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    again = api.post(URL, {"leads": [lead("W-1")]}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert again.json()["duplicates"] == 1 and again.json()["items"][0]["lead_ref"] == first.json()["items"][0]["lead_ref"]
    assert Lead.objects.count() == 1 and Member.objects.count() == 1


def test_a_key_that_only_sends_leads_is_not_told_whether_a_phone_belongs_to_a_member(trusted_client):
    DealerFactory(code="SH001")
    member = MemberFactory(phone="+8613900139000")
    api, _client = trusted_client([ApiScope.LEADS_WRITE])
    batch = [lead("W-1"), lead("W-2", phone="139 0013 9000")]
    items = api.post(URL, {"leads": batch}, format="json", HTTP_IDEMPOTENCY_KEY="probe").json()["items"]
    assert [set(item) for item in items] == [{"index", "source_ref", "status", "lead_ref"}] * 2
    stored = {lead.source_ref: lead for lead in Lead.objects.all()}
    assert stored["W-2"].member_id == member.pk and stored["W-1"].outcome == LeadOutcome.NEW_PROSPECT
    assert all(re.fullmatch(r"ld_[0-9a-f]{24}", item["lead_ref"]) for item in items)
    assert items[0]["lead_ref"] != items[1]["lead_ref"]


def test_another_keys_lead_is_no_duplicate_so_sending_its_reference_tells_nothing(trusted_client):
    DealerFactory(code="SH001")
    crm, crm_client = trusted_client([ApiScope.LEADS_WRITE, ApiScope.MEMBERS_READ])
    first = crm.post(URL, {"leads": [lead("W-1", source_system="website")]}, format="json", HTTP_IDEMPOTENCY_KEY="c").json()
    prober, prober_client = trusted_client([ApiScope.LEADS_WRITE])
    probes = [lead("W-1", source_system="website", phone="13700137000"), lead("W-2", source_system="website", phone="13700137001")]
    answer = prober.post(URL, {"leads": probes}, format="json", HTTP_IDEMPOTENCY_KEY="p").json()
    assert (answer["created"], answer["duplicates"]) == (2, 0)
    assert [item["status"] for item in answer["items"]] == ["created", "created"]
    assert first["items"][0]["lead_ref"] not in {item["lead_ref"] for item in answer["items"]}
    stored = Lead.objects.filter(source_system="website", source_ref="W-1")
    assert sorted(stored.values_list("client_id", flat=True)) == sorted([crm_client.pk, prober_client.pk])
    assert stored.get(client=crm_client).phone == "+8613800138000"
    again = prober.post(URL, {"leads": probes[:1]}, format="json", HTTP_IDEMPOTENCY_KEY="p2").json()
    assert again["duplicates"] == 1 and again["items"][0]["lead_ref"] == answer["items"][0]["lead_ref"]


def test_a_key_that_may_read_members_is_told_the_match(trusted_client):
    DealerFactory(code="SH001")
    member = MemberFactory(phone="+8613900139000")
    api, _client = trusted_client([ApiScope.LEADS_WRITE, ApiScope.MEMBERS_READ])
    batch = [lead("W-1"), lead("W-2", phone="139 0013 9000")]
    items = api.post(URL, {"leads": batch}, format="json", HTTP_IDEMPOTENCY_KEY="match").json()["items"]
    prospect = Member.objects.get(phone="+8613800138000")
    assert [(item["member_id"], item["outcome"]) for item in items] == [
        (prospect.pk, LeadOutcome.NEW_PROSPECT),
        (member.pk, LeadOutcome.MATCHED_MEMBER),
    ]


def test_the_batch_itself_must_be_a_bounded_list(trusted_client):
    api, _client = trusted_client([ApiScope.LEADS_WRITE])
    assert api.post(URL, {"leads": []}, format="json", HTTP_IDEMPOTENCY_KEY="e").json()["error"]["fields"] == {"leads": ""}
    too_many = [lead(f"W-{n}") for n in range(MAX_LEADS_PER_BATCH + 1)]
    response = api.post(URL, {"leads": too_many}, format="json", HTTP_IDEMPOTENCY_KEY="big")
    assert response.status_code == 400 and response.json()["error"]["code"] == "batch_too_large"
    assert not Lead.objects.exists()


def test_the_scope_and_the_key_are_required(trusted_client, api):
    assert api.post(URL, {"leads": [lead("W-1")]}, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code in (401, 403)
    without_scope, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    assert without_scope.post(URL, {"leads": [lead("W-1")]}, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code == 403
    with_scope, _client = trusted_client([ApiScope.LEADS_WRITE])
    assert with_scope.post(URL, {"leads": [lead("W-1")]}, format="json").status_code == 400
    assert not Lead.objects.exists()


def test_enrolling_through_the_member_api_converts_the_prospect(trusted_client):
    DealerFactory(code="SH001")
    api, _client = trusted_client()
    api.post(URL, {"leads": [lead("W-1", external_id="APP-77")]}, format="json", HTTP_IDEMPOTENCY_KEY="l")
    prospect = Member.objects.get()
    response = api.post(
        "/api/v1/members/", {"name": "李雷", "phone": "+86 138 0013 8000", "source_channel": "app"}, format="json", HTTP_IDEMPOTENCY_KEY="m"
    )
    assert response.status_code == 201, response.content
    assert response.json()["id"] == prospect.pk and response.json()["status"] == MemberStatus.ACTIVE
    assert Member.objects.count() == 1 and Lead.objects.get().member_id == prospect.pk


def test_a_prospect_cannot_obtain_a_member_token(trusted_client):
    DealerFactory(code="SH001")
    api, _client = trusted_client()
    api.post(URL, {"leads": [lead("W-1")]}, format="json", HTTP_IDEMPOTENCY_KEY="l")
    response = api.post("/api/v1/member-tokens/", {"phone": "13800138000"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "member_not_enrolled"


def test_a_member_token_cannot_send_leads(member_client):
    api, _member = member_client()
    assert api.post(URL, {"leads": [lead("W-1")]}, format="json", HTTP_IDEMPOTENCY_KEY="m").status_code == 403
    assert not Lead.objects.exists()
