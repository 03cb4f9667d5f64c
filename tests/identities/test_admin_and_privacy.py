"""Identities are shown masked to staff without the personal-data right (lists, search, filters, the member page),
are part of the member's data export, and are gone after anonymisation."""

import pytest
from django.urls import reverse

from apps.core.roles import ANALYST, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.identities.models import ChannelIdentity, IdentityKind, SubscriptionQuota
from apps.members import services as member_services
from apps.members.services import member_data_export
from tests.identities.factories import ChannelIdentityFactory, SubscriptionQuotaFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

OPENID = "oXiaomeiOpenId00042"


@pytest.fixture
def identity():
    return ChannelIdentityFactory(external_id=OPENID, unionid="uXiaomeiUnion777", member=MemberFactory(name="欧阳晓梅"))


def test_analysts_see_identities_masked_in_the_list_the_page_and_the_member_page(client, staff, identity):
    client.force_login(staff(ANALYST))
    listing = client.get(reverse("admin:identities_channelidentity_changelist")).content.decode()
    assert "oXi****042" in listing and OPENID not in listing and "uXiaomeiUnion777" not in listing
    page = client.get(reverse("admin:identities_channelidentity_change", args=[identity.pk])).content.decode()
    assert "oXi****042" in page and OPENID not in page
    member_page = client.get(reverse("admin:members_member_change", args=[identity.member_id])).content.decode()
    assert "oXi****042" in member_page and OPENID not in member_page


def test_a_hidden_value_changes_no_answer_of_search_filter_or_ordering(client, staff, identity):
    client.force_login(staff(ANALYST))
    changelist = reverse("admin:identities_channelidentity_changelist")
    hit = client.get(changelist, {"q": OPENID})
    miss = client.get(changelist, {"q": "no-such-openid"})
    assert list(hit.context["cl"].result_list) == list(miss.context["cl"].result_list)
    probes = [client.get(f"{changelist}?{lookup}") for lookup in ("external_id__startswith=oXi", "external_id__startswith=zzz")]
    assert [p.status_code for p in probes] == [400, 400] and probes[0].content == probes[1].content
    unionid_probes = [client.get(f"{changelist}?unionid={value}") for value in ("uXiaomeiUnion777", "nope")]
    assert [p.status_code for p in unionid_probes] == [400, 400]
    ordered = client.get(changelist, {"o": "4"})
    assert OPENID not in ordered.content.decode()


def test_customer_service_sees_the_full_identifier_and_can_search_it(client, staff, identity):
    ChannelIdentityFactory()
    client.force_login(staff(CUSTOMER_SERVICE))
    response = client.get(reverse("admin:identities_channelidentity_changelist"), {"q": OPENID})
    assert list(response.context["cl"].result_list) == [identity]
    assert OPENID in response.content.decode()


def test_staff_cannot_add_change_or_delete_identities_in_the_back_office(client, staff, identity):
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get(reverse("admin:identities_channelidentity_add")).status_code == 403
    assert client.post(reverse("admin:identities_channelidentity_delete", args=[identity.pk]), {"post": "yes"}).status_code == 403
    assert ChannelIdentity.objects.filter(pk=identity.pk).exists()


def test_the_data_export_holds_the_identities_and_subscriptions(identity):
    SubscriptionQuotaFactory(member=identity.member, template_id="tmpl-1", remaining=2)
    data = member_data_export(member=identity.member)
    assert data["channel_identities"][0]["external_id"] == OPENID
    assert data["channel_identities"][0]["unionid"] == "uXiaomeiUnion777"
    assert data["mini_program_subscriptions"] == [
        {"template_id": "tmpl-1", "remaining": 2, "updated_at": data["mini_program_subscriptions"][0]["updated_at"]}
    ]


def test_anonymisation_erases_identities_and_subscriptions(identity):
    member = identity.member
    ChannelIdentityFactory(member=member, kind=IdentityKind.PUSH, app_id="android", external_id="push-token-1")
    SubscriptionQuotaFactory(member=member)
    other = ChannelIdentityFactory()
    member_services.member_anonymise(member=member, reason="Deletion request #9")
    assert not ChannelIdentity.objects.filter(member=member).exists()
    assert not SubscriptionQuota.objects.filter(member=member).exists()
    assert ChannelIdentity.objects.filter(pk=other.pk).exists()
