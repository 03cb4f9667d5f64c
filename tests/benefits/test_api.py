from datetime import timedelta

import pytest
from django.utils import timezone

from apps.benefits import services
from apps.benefits.models import Grant, GrantSource, GrantState, Redemption
from apps.core.models import ApiScope
from apps.members import services as member_services
from tests.benefits.factories import BenefitFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def grant_for(member, **benefit_fields):
    return services.grant_issue(benefit=BenefitFactory(**benefit_fields), member=member, source=GrantSource.STAFF)


def test_member_sees_only_own_grants_filtered_by_state(member_client):
    api, member = member_client()
    mine = grant_for(member)
    redeemed = grant_for(member)
    services.grant_redeem(code=redeemed.code, channel="pos")
    grant_for(MemberFactory())
    body = api.get("/api/v1/me/benefits/").json()
    assert {row["id"] for row in body["results"]} == {mine.pk, redeemed.pk}
    issued = api.get("/api/v1/me/benefits/", {"state": "issued"}).json()["results"]
    assert [row["id"] for row in issued] == [mine.pk]
    assert issued[0]["code"].count("-") == 3


def test_mall_lists_what_my_tier_may_buy_and_what_i_can_afford(member_client):
    api, member = member_client()
    member_services.points_earn(member=member, amount=500, reason="Purchase")
    cheap = BenefitFactory(points_price=300)
    dear = BenefitFactory(points_price=900)
    gold_only = BenefitFactory(points_price=100)
    gold_only.eligible_tiers.set([tier("gold")])
    BenefitFactory(points_price=None)
    offers = api.get("/api/v1/mall/").json()
    assert [(o["id"], o["affordable"]) for o in offers] == [(cheap.pk, True), (dear.pk, False)]


def test_mall_exchange_is_idempotent(member_client):
    api, member = member_client()
    member_services.points_earn(member=member, amount=1000, reason="Purchase")
    benefit = BenefitFactory(points_price=300)
    first = api.post(f"/api/v1/mall/{benefit.pk}/exchange/", HTTP_IDEMPOTENCY_KEY="buy-1")
    again = api.post(f"/api/v1/mall/{benefit.pk}/exchange/", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert member.points_account.__class__.objects.get(member=member).balance == 700


def test_trusted_redeem_with_replay_and_specific_refusals(trusted_client):
    api, _client = trusted_client(scopes=[ApiScope.BENEFITS_REDEEM])
    owner = MemberFactory()
    grant = grant_for(owner)
    body = {"code": grant.code, "channel": "pos", "order_ref": "POS-77"}
    first = api.post("/api/v1/grants/redeem/", body, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert first.status_code == 201 and first.json()["state"] == GrantState.REDEEMED
    replay = api.post("/api/v1/grants/redeem/", body, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert replay.json() == first.json() and Redemption.objects.count() == 1
    twice = api.post("/api/v1/grants/redeem/", body, format="json", HTTP_IDEMPOTENCY_KEY="r-2")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_redeemed"
    other = grant_for(owner)
    wrong_member = api.post(
        "/api/v1/grants/redeem/",
        {"code": other.code, "channel": "pos", "member_id": MemberFactory().pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-3",
    )
    assert wrong_member.status_code == 404 and wrong_member.json()["error"]["code"] == "grant_not_found"


def test_lookup_and_grant_need_their_scopes(trusted_client):
    member = MemberFactory()
    benefit = BenefitFactory()
    reader, _ = trusted_client(scopes=[ApiScope.MEMBERS_READ])
    assert (
        reader.post(
            "/api/v1/grants/", {"benefit_id": benefit.pk, "member_id": member.pk}, format="json", HTTP_IDEMPOTENCY_KEY="g"
        ).status_code
        == 403
    )
    granter, _ = trusted_client(scopes=[ApiScope.BENEFITS_GRANT, ApiScope.BENEFITS_REDEEM])
    created = granter.post(
        "/api/v1/grants/",
        {"benefit_id": benefit.pk, "member_id": member.pk, "source_ref": "crm-1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="g",
    )
    assert created.status_code == 201
    code = created.json()["code"]
    assert granter.get("/api/v1/grants/lookup/", {"code": code}).json()["member"] == member.pk
    assert granter.get("/api/v1/grants/lookup/", {"code": "XXXX"}).status_code == 404


def test_member_cannot_use_trusted_redeem(member_client):
    api, member = member_client()
    grant = grant_for(member)
    assert (
        api.post("/api/v1/grants/redeem/", {"code": grant.code, "channel": "app"}, format="json", HTTP_IDEMPOTENCY_KEY="x").status_code
        == 403
    )


def test_redeem_by_grant_id_alone_is_refused_and_changes_nothing(trusted_client):
    """A key with the redeem scope cannot use a member's grant by its sequential id: the code is the proof."""
    api, _client = trusted_client(scopes=[ApiScope.BENEFITS_REDEEM])
    grant = grant_for(MemberFactory())
    response = api.post("/api/v1/grants/redeem/", {"grant_id": grant.pk, "channel": "pos"}, format="json", HTTP_IDEMPOTENCY_KEY="id-1")
    assert response.status_code == 400 and "code" in response.json()["error"]["fields"]
    assert grant.code not in response.content.decode()
    grant.refresh_from_db()
    assert grant.state == GrantState.ISSUED and not Redemption.objects.exists()


def test_schema_offers_redemption_by_code_only(api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    redeem = schema["components"]["schemas"]["RedeemRequest"]
    assert "code" in redeem["required"] and "grant_id" not in redeem["properties"]


def test_a_refused_redemption_stores_its_answer_and_writes_nothing(trusted_client):
    """The redemption has no savepoint of its own: it refuses before its first write, and the request's transaction
    stores the refusal, which a retry with the same key gets back."""
    api, _client = trusted_client(scopes=[ApiScope.BENEFITS_REDEEM])
    grant = grant_for(MemberFactory())
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(valid_from=now - timedelta(days=2), valid_until=now - timedelta(minutes=1))
    body = {"code": grant.code, "channel": "pos", "order_ref": "POS-9"}
    first = api.post("/api/v1/grants/redeem/", body, format="json", HTTP_IDEMPOTENCY_KEY="late")
    assert first.status_code == 409 and first.json()["error"]["code"] == "grant_expired"
    assert not Redemption.objects.filter(grant=grant).exists()
    assert Grant.objects.get(pk=grant.pk).state == GrantState.ISSUED
    Grant.objects.filter(pk=grant.pk).update(valid_until=now + timedelta(days=1))
    again = api.post("/api/v1/grants/redeem/", body, format="json", HTTP_IDEMPOTENCY_KEY="late")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert not Redemption.objects.filter(grant=grant).exists()
