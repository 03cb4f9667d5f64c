import pytest

from apps.campaigns import services
from apps.campaigns.models import ReferralState
from apps.core.models import ApiScope
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_member_sees_only_their_own_code(member_client):
    api, member = member_client()
    other = MemberFactory()
    response = api.get("/api/v1/me/referral-code/")
    assert response.status_code == 200
    assert response.json()["code"] == services.referral_code_for(member=member).code != services.referral_code_for(member=other).code


def test_referral_code_needs_a_member_token(api):
    assert api.get("/api/v1/me/referral-code/").status_code == 401


def test_attach_and_qualify_with_idempotent_replay(trusted_client):
    api, _client = trusted_client([ApiScope.REFERRALS_WRITE])
    referrer, referee = MemberFactory(), MemberFactory()
    code = services.referral_code_for(member=referrer).code
    attach = api.post("/api/v1/referrals/", {"referee": referee.pk, "code": code}, HTTP_IDEMPOTENCY_KEY="a1")
    assert attach.status_code == 201 and attach.json()["state"] == ReferralState.PENDING
    replay = api.post("/api/v1/referrals/", {"referee": referee.pk, "code": code}, HTTP_IDEMPOTENCY_KEY="a1")
    assert replay.status_code == 201 and replay.json() == attach.json()
    qualify = api.post("/api/v1/referrals/qualify/", {"referee": referee.pk, "action": "first_purchase"}, HTTP_IDEMPOTENCY_KEY="q1")
    assert qualify.status_code == 200 and qualify.json()["state"] == ReferralState.REWARDED


def test_attach_errors(trusted_client):
    api, _client = trusted_client([ApiScope.REFERRALS_WRITE])
    member = MemberFactory()
    own = services.referral_code_for(member=member).code
    response = api.post("/api/v1/referrals/", {"referee": member.pk, "code": own}, HTTP_IDEMPOTENCY_KEY="s1")
    assert response.status_code == 400 and response.json()["error"]["code"] == "self_referral"
    missing = api.post("/api/v1/referrals/qualify/", {"referee": member.pk, "action": "first_purchase"}, HTTP_IDEMPOTENCY_KEY="s2")
    assert missing.status_code == 404


def test_wrong_scope_and_missing_key(trusted_client, api):
    wrong, _client = trusted_client([ApiScope.MEMBERS_READ])
    assert wrong.post("/api/v1/referrals/", {"referee": 1, "code": "X"}, HTTP_IDEMPOTENCY_KEY="k").status_code == 403
    assert api.post("/api/v1/referrals/", {"referee": 1, "code": "X"}, HTTP_IDEMPOTENCY_KEY="k").status_code == 401
