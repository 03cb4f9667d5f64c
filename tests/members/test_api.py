from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.models import ApiScope
from apps.members import services
from apps.members.models import ConsentChannel, Member, MemberStatus, MemberToken, PointsEntry, PointsEntryKind, PointsLot
from tests.members.factories import MemberFactory, MemberTokenFactory

pytestmark = pytest.mark.django_db


def url(name: str, **kwargs: object) -> str:
    return reverse(f"api-v1:{name}", kwargs=kwargs)


class TestAuthentication:
    def test_missing_key_is_401_with_error_shape(self, api):
        response = api.get(url("members"))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"

    def test_invalid_key_is_401(self, api):
        api.credentials(HTTP_X_API_KEY="nope.nope")
        assert api.get(url("members")).status_code == 401

    def test_inactive_client_is_401(self, trusted_client):
        api, client = trusted_client()
        client.is_active = False
        client.save()
        assert api.get(url("members")).status_code == 401

    def test_wrong_scope_is_403(self, trusted_client):
        api, _client = trusted_client(scopes=[ApiScope.MEMBERS_READ])
        member = MemberFactory()
        assert api.get(url("members")).status_code == 200
        response = api.post(url("points-earn", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="k1")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"

    def test_a_key_that_may_only_write_members_cannot_read_them_through_a_write(self, trusted_client):
        api, _client = trusted_client(scopes=[ApiScope.MEMBERS_WRITE])
        member = MemberFactory(phone="+8613912345678", city="上海")
        peek = api.patch(url("member-detail", pk=member.pk), {}, format="json")
        assert peek.status_code == 403 and "+8613912345678" not in peek.content.decode()
        enrol = {"name": "王芳", "phone": "+86 139 1234 5678", "source_channel": "store"}
        assert api.post(url("members"), enrol, format="json", HTTP_IDEMPOTENCY_KEY="e1").status_code == 403
        assert Member.objects.get().updated_at == member.updated_at
        reader, _client = trusted_client(scopes=[ApiScope.MEMBERS_WRITE, ApiScope.MEMBERS_READ])
        changed = reader.patch(url("member-detail", pk=member.pk), {"city": "杭州"}, format="json")
        assert changed.status_code == 200 and changed.json()["city"] == "杭州"

    def test_member_token_cannot_use_trusted_endpoints(self, member_client):
        api, _member = member_client()
        assert api.get(url("members")).status_code == 403

    def test_expired_or_revoked_member_token_is_401(self, api):
        from django.utils import timezone

        token = MemberTokenFactory(expires_at=timezone.now())
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
        assert api.get(url("me")).status_code == 401
        token = MemberTokenFactory(revoked_at=timezone.now())
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
        assert api.get(url("me")).status_code == 401


class TestMemberSelfService:
    def test_member_sees_only_own_profile_points_and_ledger(self, member_client):
        alice = MemberFactory(name="Alice")
        bob = MemberFactory(name="Bob")
        services.points_earn(member=alice, amount=300, reason="Purchase")
        services.points_earn(member=bob, amount=999, reason="Purchase")
        api, _member = member_client(alice)
        assert api.get(url("me")).json()["name"] == "Alice"
        assert api.get(url("me-points")).json()["balance"] == 300
        ledger = api.get(url("me-ledger")).json()
        assert ledger["count"] == 1 and ledger["results"][0]["amount"] == 300

    def test_profile_update_ignores_protected_fields(self, member_client):
        api, member = member_client()
        response = api.patch(url("me"), {"city": "杭州", "status": "closed", "growth_value": 99999, "tier": "vip"}, format="json")
        assert response.status_code == 200
        member.refresh_from_db()
        assert member.city == "杭州"
        assert member.status == MemberStatus.ACTIVE and member.growth_value == 0 and member.tier.code == "basic"

    def test_tier_progress(self, member_client):
        api, member = member_client()
        services.growth_add(member=member, amount=1200, reason="Purchase")
        body = api.get(url("me-tier")).json()
        assert body["tier"]["code"] == "silver"
        assert body["next_tier"]["code"] == "gold"
        assert body["needed_for_next"] == 3800

    def test_consents_can_be_read_and_changed(self, member_client):
        api, member = member_client()
        assert api.get(url("me-consents")).json() == dict.fromkeys(ConsentChannel.values, False)
        assert api.put(url("me-consents"), {"sms": True}, format="json").json()["sms"] is True
        assert member.consents.get(channel="sms").granted is True

    def test_token_revocation(self, member_client):
        api, _member = member_client()
        assert api.post(url("me-token-revoke")).status_code == 204
        assert api.get(url("me")).status_code == 401


class TestTrustedMembers:
    def test_enrol_lookup_and_filters(self, trusted_client):
        api, _client = trusted_client()
        response = api.post(
            url("members"),
            {"name": "王芳", "phone": "+86 139 1234 5678", "external_id": "CRM-9", "consents": {"sms": True}},
            format="json",
            HTTP_IDEMPOTENCY_KEY="enrol-1",
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["phone"] == "+8613912345678" and body["tier"]["code"] == "basic" and body["consents"]["sms"] is True
        MemberFactory()
        assert api.get(url("members"), {"phone": "139-1234-5678"}).json()["count"] == 1
        assert api.get(url("members"), {"external_id": "CRM-9"}).json()["results"][0]["name"] == "王芳"
        assert api.get(url("members"), {"tier": "gold"}).json()["count"] == 0

    def test_updated_since_lists_changed_records_not_moved_balances(self, trusted_client):
        api, _client = trusted_client()
        earner, grower, edited = MemberFactory(), MemberFactory(), MemberFactory()
        Member.objects.update(updated_at=timezone.now() - timedelta(days=2))
        since = timezone.now() - timedelta(days=1)
        services.points_earn(member=earner, amount=50, reason="Purchase")
        services.growth_add(member=grower, amount=10, reason="Purchase")
        services.member_update_profile(member=edited, city="杭州")

        def listed() -> set[int]:
            return {row["id"] for row in api.get(url("members"), {"updated_since": since.isoformat()}).json()["results"]}

        assert listed() == {edited.pk}
        services.growth_add(member=grower, amount=1000, reason="Purchase")  # promoted: the tier changed
        assert listed() == {edited.pk, grower.pk}

    def test_enrol_errors_name_the_field(self, trusted_client):
        api, _client = trusted_client()
        MemberFactory(phone="+8613912345678")
        response = api.post(url("members"), {"name": "A", "phone": "13912345678"}, format="json", HTTP_IDEMPOTENCY_KEY="e2")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "duplicate_phone"
        assert "phone" in response.json()["error"]["fields"]
        response = api.post(url("members"), {"phone": "13912345670"}, format="json", HTTP_IDEMPOTENCY_KEY="e3")
        assert response.status_code == 400
        assert "name" in response.json()["error"]["fields"]

    def test_unknown_member_is_404(self, trusted_client):
        api, _client = trusted_client()
        assert api.get(url("member-detail", pk=999999)).status_code == 404


class TestPointsApi:
    def test_earn_and_spend_with_idempotent_replay(self, trusted_client):
        api, _client = trusted_client()
        member = MemberFactory()
        earn = api.post(
            url("points-earn", pk=member.pk), {"amount": 500, "reason": "Order 1", "source_ref": "ORD-1"}, HTTP_IDEMPOTENCY_KEY="o1"
        )
        assert earn.status_code == 201 and earn.json()["balance"] == 500
        replay = api.post(
            url("points-earn", pk=member.pk), {"amount": 500, "reason": "Order 1", "source_ref": "ORD-1"}, HTTP_IDEMPOTENCY_KEY="o1"
        )
        assert replay.status_code == 201 and replay.json() == earn.json()
        assert replay["Idempotent-Replayed"] == "true"
        assert PointsEntry.objects.filter(account__member=member).count() == 1
        spend = api.post(url("points-spend", pk=member.pk), {"amount": 200, "reason": "Mall"}, HTTP_IDEMPOTENCY_KEY="s1")
        assert spend.json()["balance"] == 300

    def test_same_key_different_body_is_422(self, trusted_client):
        api, _client = trusted_client()
        member = MemberFactory()
        api.post(url("points-earn", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="k")
        response = api.post(url("points-earn", pk=member.pk), {"amount": 6, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"

    @pytest.mark.parametrize("operation", ["points-earn", "points-spend"])
    def test_unknown_member_is_404_with_the_member_lookup_s_answer(self, trusted_client, operation):
        api, _client = trusted_client()
        response = api.post(url(operation, pk=999999), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="nobody")
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "No such member.", "fields": {}}}
        assert api.get(url("member-detail", pk=999999)).json() == response.json()

    def test_missing_key_is_400(self, trusted_client):
        api, _client = trusted_client()
        response = api.post(url("points-earn", pk=MemberFactory().pk), {"amount": 5, "reason": "x"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "idempotency_key_missing"

    def test_keys_are_scoped_per_client(self, trusted_client):
        member = MemberFactory()
        first, _ = trusted_client()
        second, _ = trusted_client()
        first.post(url("points-earn", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="shared")
        response = second.post(url("points-earn", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="shared")
        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        assert response.json()["balance"] == 10

    def test_refusal_is_stored_and_replayed_without_effect(self, trusted_client):
        api, _client = trusted_client()
        member = MemberFactory()
        first = api.post(url("points-spend", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="sp")
        assert first.status_code == 409 and first.json()["error"]["code"] == "insufficient_points"
        services.points_earn(member=member, amount=50, reason="Purchase")
        again = api.post(url("points-spend", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="sp")
        assert again.status_code == 409 and again["Idempotent-Replayed"] == "true"

    @pytest.mark.parametrize(
        ("status", "reason", "code"),
        [
            (MemberStatus.FROZEN, "Purchase", "member_frozen"),
            (MemberStatus.ACTIVE, "Call 13812345678 back", "personal_data_in_text"),
        ],
    )
    def test_a_refused_earn_stores_its_answer_and_writes_nothing(self, trusted_client, status, reason, code):
        """The earn has no savepoint of its own: it refuses before its first write, and the request's transaction
        stores the refusal."""
        api, _client = trusted_client()
        member = MemberFactory(status=status, phone="+8613812345678")
        body = {"amount": 5, "reason": reason}
        first = api.post(url("points-earn", pk=member.pk), body, HTTP_IDEMPOTENCY_KEY="refused")
        assert first.status_code in (400, 409) and first.json()["error"]["code"] == code
        assert not PointsEntry.objects.filter(account__member=member).exists()
        assert not PointsLot.objects.filter(account__member=member).exists()
        again = api.post(url("points-earn", pk=member.pk), body, HTTP_IDEMPOTENCY_KEY="refused")
        assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
        assert not PointsEntry.objects.filter(account__member=member).exists()

    def test_an_earn_for_an_unknown_member_stores_its_404(self, trusted_client):
        api, _client = trusted_client()
        first = api.post(url("points-earn", pk=987654), {"amount": 5, "reason": "Purchase"}, HTTP_IDEMPOTENCY_KEY="nobody")
        assert first.status_code == 404 and first.json()["error"]["code"] == "not_found"
        again = api.post(url("points-earn", pk=987654), {"amount": 5, "reason": "Purchase"}, HTTP_IDEMPOTENCY_KEY="nobody")
        assert again.status_code == 404 and again["Idempotent-Replayed"] == "true"

    def test_a_refusal_after_the_service_wrote_stores_the_answer_and_none_of_the_writes(self, trusted_client):
        """The spend view runs without a savepoint of its own: the service's expires the due lot, then refuses."""
        api, _client = trusted_client()
        member = MemberFactory()
        entry = services.points_earn(member=member, amount=50, reason="Purchase", expires_at=timezone.now() + timedelta(seconds=1))
        PointsLot.objects.filter(entry=entry).update(expires_at=timezone.now() - timedelta(seconds=1))
        first = api.post(url("points-spend", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="due")
        assert first.status_code == 409 and first.json()["error"]["code"] == "insufficient_points"
        assert list(PointsEntry.objects.filter(account__member=member).values_list("kind", flat=True)) == [PointsEntryKind.EARN]
        assert PointsLot.objects.get(entry=entry).remaining == 50
        again = api.post(url("points-spend", pk=member.pk), {"amount": 5, "reason": "x"}, HTTP_IDEMPOTENCY_KEY="due")
        assert again.status_code == 409 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()

    def test_invalid_payload_names_fields(self, trusted_client):
        api, _client = trusted_client()
        response = api.post(url("points-earn", pk=MemberFactory().pk), {"amount": "lots"}, HTTP_IDEMPOTENCY_KEY="bad")
        assert response.status_code == 400
        assert set(response.json()["error"]["fields"]) == {"amount", "reason"}

    def test_reverse_entry(self, trusted_client):
        api, _client = trusted_client()
        member = MemberFactory()
        entry = services.points_earn(member=member, amount=100, reason="Purchase")
        response = api.post(url("points-reverse", entry_id=entry.pk), {"reason": "Order returned"}, HTTP_IDEMPOTENCY_KEY="r1")
        assert response.status_code == 201 and response.json()["balance"] == 0


class TestMemberTokens:
    def test_trusted_system_issues_token_for_member_by_phone(self, trusted_client, api):
        trusted, _client = trusted_client(scopes=[ApiScope.MEMBER_TOKENS])
        member = MemberFactory(phone="+8613811112222")
        response = trusted.post(url("member-token-issue"), {"phone": "138 1111 2222"}, format="json")
        assert response.status_code == 201
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
        assert api.get(url("me")).json()["id"] == member.pk
        trusted.post(url("member-token-revoke"), {"member_id": member.pk}, format="json")
        assert api.get(url("me")).status_code == 401

    def test_closed_member_gets_no_token(self, trusted_client):
        trusted, _client = trusted_client()
        member = MemberFactory()
        services.member_close(member=member, reason="asked")
        response = trusted.post(url("member-token-issue"), {"member_id": member.pk}, format="json")
        assert response.status_code == 409

    def test_unknown_member_404(self, trusted_client):
        trusted, _client = trusted_client()
        assert trusted.post(url("member-token-issue"), {"external_id": "nobody"}, format="json").status_code == 404

    def test_a_key_that_only_issues_tokens_cannot_tell_closed_accounts_and_prospects_from_nobody(self, trusted_client):
        issuer, _client = trusted_client(scopes=[ApiScope.MEMBER_TOKENS])
        closed = MemberFactory(phone="+8613811110001")
        services.member_close(member=closed, reason="asked")
        services.prospect_register(name="潜客", phone="+8613811110002")
        answers = [
            issuer.post(url("member-token-issue"), identity, format="json")
            for identity in ({"phone": "13811110001"}, {"member_id": closed.pk}, {"phone": "13811110002"}, {"phone": "13811110003"})
        ]
        assert {(answer.status_code, answer.content) for answer in answers} == {(404, answers[-1].content)}
        assert not MemberToken.objects.exists()

    def test_a_key_that_may_read_members_is_told_why_a_token_is_refused(self, trusted_client):
        reader, _client = trusted_client(scopes=[ApiScope.MEMBER_TOKENS, ApiScope.MEMBERS_READ])
        closed = MemberFactory()
        services.member_close(member=closed, reason="asked")
        response = reader.post(url("member-token-issue"), {"member_id": closed.pk}, format="json")
        assert response.status_code == 409 and response.json()["error"]["code"] == "member_closed"

    def test_revoking_answers_a_key_that_only_issues_tokens_the_same_for_anyone(self, trusted_client):
        issuer, client = trusted_client(scopes=[ApiScope.MEMBER_TOKENS])
        with_token = MemberFactory(phone="+8613811110004")
        MemberFactory(phone="+8613811110005")
        services.member_token_issue(member=with_token, client=client)
        answers = [
            issuer.post(url("member-token-revoke"), {"phone": phone}, format="json")
            for phone in ("13811110004", "13811110005", "13811110006")
        ]
        assert {(answer.status_code, answer.content) for answer in answers} == {(200, answers[-1].content)}
        assert not MemberToken.objects.filter(member=with_token, revoked_at__isnull=True).exists()

    def test_revoking_tells_a_key_that_may_read_members_the_count_and_an_unknown_member(self, trusted_client):
        reader, client = trusted_client(scopes=[ApiScope.MEMBER_TOKENS, ApiScope.MEMBERS_READ])
        member = MemberFactory()
        services.member_token_issue(member=member, client=client)
        assert reader.post(url("member-token-revoke"), {"member_id": member.pk}, format="json").json()["revoked"] == 1
        assert reader.post(url("member-token-revoke"), {"external_id": "nobody"}, format="json").status_code == 404


def test_openapi_schema_and_docs_are_served(client, django_user_model):
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content.lower()
    assert Member.objects.count() == 0
