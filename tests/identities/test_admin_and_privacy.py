"""Identities are shown masked to staff without the personal-data right (lists, search, filters, the member page),
are part of the member's data export, and are gone after anonymisation."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
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
    assert not ChannelIdentity.history.filter(member_id=member.pk).exists()
    assert ChannelIdentity.history.filter(member_id=other.member_id).exists()
    assert not SubscriptionQuota.objects.filter(member=member).exists()
    assert ChannelIdentity.objects.filter(pk=other.pk).exists()


def csv_file(text: str, encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile("identities.csv", text.encode(encoding), content_type="text/csv")


HEADER = "member_external_id,kind,app_id,external_id,unionid,adviser_userid,dealer_code\n"


def test_operations_import_a_file_of_identities(client, staff):
    first, second = MemberFactory(external_id="CRM-1"), MemberFactory(external_id="CRM-2")
    user = staff(OPERATIONS_MANAGER)
    client.force_login(user)
    assert "import-identities" in client.get(reverse("admin:identities_channelidentity_changelist")).content.decode()
    body = (
        HEADER + "CRM-1,official_account,wx-oa,oFirst01,uFirst,,\nCRM-2,wecom,ww-corp,wmSecond,,lisi,BJ-002\nCRM-2,push,android,tok-2,,,\n"
    )
    response = client.post(reverse("admin:identities_channelidentity_import"), {"file": csv_file(body, "gb18030")})
    assert response.status_code == 302
    assert ChannelIdentity.objects.get(member=first).external_id == "oFirst01"
    assert ChannelIdentity.objects.get(member=second, kind=IdentityKind.WECOM).adviser_userid == "lisi"
    assert ChannelIdentity.objects.filter(source="import").count() == 3
    assert ChannelIdentity.history.filter(history_user=user, history_type="+").count() == 3


def test_a_file_with_a_bad_row_imports_nothing_and_names_each_refused_row(client, staff):
    MemberFactory(external_id="CRM-1")
    client.force_login(staff(OPERATIONS_MANAGER))
    body = HEADER + "CRM-1,official_account,wx-oa,oFirst01,,,\nCRM-9,official_account,wx-oa,oNine,,,\nCRM-1,push,nokia,tok,,,\n"
    response = client.post(reverse("admin:identities_channelidentity_import"), {"file": csv_file(body)})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(row["row"], row["field"]) for row in rows] == [(3, "member_external_id"), (4, "app_id")]
    assert "2 rows were refused, nothing was imported" in response.content.decode()
    assert not ChannelIdentity.objects.exists()


def test_a_file_without_the_columns_is_refused(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(reverse("admin:identities_channelidentity_import"), {"file": csv_file("member,openid\nCRM-1,o1\n")})
    assert response.status_code == 200
    assert "missing: member_external_id, kind, app_id, external_id" in response.content.decode()


def test_staff_who_see_identifiers_masked_cannot_import(client, staff):
    client.force_login(staff(ANALYST))
    assert client.get(reverse("admin:identities_channelidentity_import")).status_code == 403
    assert "import-identities" not in client.get(reverse("admin:identities_channelidentity_changelist")).content.decode()
