"""The trusted API that sets members' channel identities and mini-program subscriptions."""

import pytest

from apps.core.models import ApiScope
from apps.identities.models import ChannelIdentity, IdentityKind, SubscriptionQuota
from apps.members.models import Consent, ConsentChannel, MemberStatus
from tests.core.factories import UserFactory
from tests.identities.factories import ChannelIdentityFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

OPENID = {"kind": "official_account", "app_id": "wx-oa-test", "external_id": "oLiNaOpenId0001", "unionid": "uLiNaUnion01"}


@pytest.fixture
def api(trusted_client):
    client, _api_client = trusted_client([ApiScope.IDENTITIES_WRITE])
    return client


def url(member_id: int, what: str = "identities") -> str:
    return f"/api/v1/members/{member_id}/{what}/"


def test_setting_an_openid_creates_it_and_setting_it_again_changes_nothing(api):
    member = MemberFactory()
    created = api.post(url(member.pk), OPENID, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["external_id"] == "oLiNaOpenId0001" and created.json()["unionid"] == "uLiNaUnion01"
    again = api.post(url(member.pk), OPENID, format="json")
    assert again.status_code == 200
    assert again.json()["updated_at"] == created.json()["updated_at"]
    assert ChannelIdentity.objects.filter(member=member).count() == 1
    listed = api.get(url(member.pk))
    assert [row["external_id"] for row in listed.json()] == ["oLiNaOpenId0001"]


def test_a_new_openid_for_the_same_app_replaces_the_old_one_and_other_apps_are_kept(api):
    member = MemberFactory()
    api.post(url(member.pk), OPENID, format="json")
    api.post(url(member.pk), {"kind": "mini_program", "app_id": "wx-mp-test", "external_id": "oMini01"}, format="json")
    replaced = api.post(url(member.pk), {**OPENID, "external_id": "oLiNaOpenId0002"}, format="json")
    assert replaced.status_code == 200
    assert sorted(ChannelIdentity.objects.filter(member=member).values_list("external_id", flat=True)) == ["oLiNaOpenId0002", "oMini01"]


def test_an_address_of_another_member_is_refused_without_naming_them(api):
    owner, other = MemberFactory(), MemberFactory()
    api.post(url(owner.pk), OPENID, format="json")
    refused = api.post(url(other.pk), OPENID, format="json")
    assert refused.status_code == 409
    body = refused.json()["error"]
    assert body["code"] == "identity_taken" and "external_id" in body["fields"]
    assert str(owner.pk) not in refused.content.decode() and owner.name not in refused.content.decode()
    assert not ChannelIdentity.objects.filter(member=other).exists()


def test_a_member_can_have_several_push_tokens_but_a_token_one_member(api):
    member = MemberFactory()
    for token in ("tok-a", "tok-b"):
        assert api.post(url(member.pk), {"kind": "push", "app_id": "ios", "external_id": token}, format="json").status_code == 201
    assert ChannelIdentity.objects.filter(member=member, kind=IdentityKind.PUSH).count() == 2
    assert api.post(url(MemberFactory().pk), {"kind": "push", "app_id": "ios", "external_id": "tok-a"}, format="json").status_code == 409


def test_a_wecom_contact_carries_its_adviser(api):
    member, adviser = MemberFactory(), UserFactory(is_staff=True)
    body = {
        "kind": "wecom",
        "app_id": "ww-corp",
        "external_id": "wmExt01",
        "adviser_userid": "zhangwei",
        "adviser": adviser.pk,
        "dealer_code": "SH-001",
    }
    assert api.post(url(member.pk), body, format="json").status_code == 201
    identity = ChannelIdentity.objects.get(member=member)
    assert (identity.adviser_userid, identity.adviser, identity.dealer_code) == ("zhangwei", adviser, "SH-001")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"kind": "fax", "app_id": "x", "external_id": "y"}, "kind", None),
        ({"kind": "official_account", "app_id": "", "external_id": "y"}, "app_id", None),
        ({"kind": "official_account", "app_id": "x"}, "external_id", None),
        ({"kind": "official_account", "app_id": "x", "external_id": "y" * 256}, "external_id", None),
        ({"kind": "push", "app_id": "blackberry", "external_id": "t"}, "app_id", "invalid_platform"),
        ({"kind": "push", "app_id": "ios", "external_id": "t", "unionid": "u"}, "unionid", "unionid_not_allowed"),
        ({"kind": "wecom", "app_id": "ww", "external_id": "wm"}, "adviser_userid", "required"),
        ({"kind": "wecom", "app_id": "ww", "external_id": "wm", "adviser_userid": "a", "adviser": 999999}, "adviser", "invalid_adviser"),
        ({"kind": "official_account", "app_id": "x", "external_id": "y", "adviser_userid": "a"}, "adviser_userid", "adviser_not_allowed"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(api, body, field, code):
    member = MemberFactory()
    response = api.post(url(member.pk), body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"]
    if code:
        assert error["code"] == code
    assert not ChannelIdentity.objects.exists()


def test_unknown_and_closed_members_are_refused(api):
    assert api.post(url(999999), OPENID, format="json").status_code == 404
    closed = MemberFactory(status=MemberStatus.CLOSED)
    response = api.post(url(closed.pk), OPENID, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "member_closed"


def test_the_identities_scope_is_required(trusted_client):
    member = MemberFactory()
    client, _c = trusted_client([scope for scope in ApiScope.values if scope != ApiScope.IDENTITIES_WRITE])
    assert client.post(url(member.pk), OPENID, format="json").status_code == 403
    assert client.get(url(member.pk)).status_code == 403
    assert client.post(url(member.pk, "subscriptions"), {"template_id": "t"}, format="json", HTTP_IDEMPOTENCY_KEY="s").status_code == 403
    assert not ChannelIdentity.objects.exists()


def test_removing_an_identity(api):
    identity = ChannelIdentityFactory()
    body = {"kind": identity.kind, "app_id": identity.app_id, "external_id": identity.external_id}
    assert api.post(url(identity.member_id, "identities/remove"), body, format="json").status_code == 204
    assert not ChannelIdentity.objects.exists()
    # Removing what is not there is not an error (the member app may report an unfollow twice).
    assert api.post(url(identity.member_id, "identities/remove"), body, format="json").status_code == 204


def test_a_subscription_counts_up_is_consent_to_the_mini_program_and_a_retry_counts_once(api):
    member = MemberFactory()
    ChannelIdentityFactory(member=member, kind=IdentityKind.MINI_PROGRAM, app_id="wx-mp-test")
    first = api.post(
        url(member.pk, "subscriptions"), {"template_id": "tmpl-points", "count": 2}, format="json", HTTP_IDEMPOTENCY_KEY="sub-1"
    )
    assert first.status_code == 201 and first.json()["remaining"] == 2
    replay = api.post(
        url(member.pk, "subscriptions"), {"template_id": "tmpl-points", "count": 2}, format="json", HTTP_IDEMPOTENCY_KEY="sub-1"
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    api.post(url(member.pk, "subscriptions"), {"template_id": "tmpl-points"}, format="json", HTTP_IDEMPOTENCY_KEY="sub-2")
    assert SubscriptionQuota.objects.get(member=member).remaining == 3
    assert Consent.objects.get(member=member, channel=ConsentChannel.MINI_PROGRAM).granted
    assert api.get(url(member.pk, "subscriptions")).json()[0]["remaining"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [({"template_id": ""}, "template_id"), ({"template_id": "t", "count": 0}, "count"), ({"template_id": "t", "count": 101}, "count")],
)
def test_bad_subscriptions_are_refused(api, body, field):
    member = MemberFactory()
    ChannelIdentityFactory(member=member, kind=IdentityKind.MINI_PROGRAM, app_id="wx-mp-test")
    response = api.post(url(member.pk, "subscriptions"), body, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not SubscriptionQuota.objects.exists()


def test_a_subscription_needs_the_members_mini_program_openid(api):
    member = MemberFactory()
    response = api.post(url(member.pk, "subscriptions"), {"template_id": "t"}, format="json", HTTP_IDEMPOTENCY_KEY="no-openid")
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_mini_program_identity"
    assert not SubscriptionQuota.objects.exists()
    assert not Consent.objects.filter(member=member, channel=ConsentChannel.MINI_PROGRAM).exists()
