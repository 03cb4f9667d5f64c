"""The club's back-office page: members with role and joined date, pending requests approved or declined, events,
staff adding and removing members with a reason, and the permissions of each."""

import pytest
from django.urls import reverse

from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services
from apps.events.models import ClubJoinRequest, ClubMembership, ClubRole, JoinedVia, JoinPolicy, JoinRequestStatus
from tests.core.factories import UserFactory
from tests.events.factories import ClubFactory, ClubJoinRequestFactory, EventFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def test_club_page_shows_members_requests_and_events(client, staff):
    club = ClubFactory(name="上海车友会", join_policy=JoinPolicy.APPROVAL)
    member = MemberFactory(name="李娜")
    services.club_member_add(club=club, member=member, actor=UserFactory(), reason="founder")
    services.club_role_set(club=club, member=member, role=ClubRole.ORGANISER)
    pending = ClubJoinRequestFactory(club=club, member=MemberFactory(name="王强"), message="刚提车")
    EventFactory(club=club, title="周末自驾", members_only=True)
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(reverse("admin:events_club_change", args=[club.pk])).content.decode()
    assert "李娜" in page and "Organiser" in page and "Added by staff" in page
    assert "王强" in page and "刚提车" in page and reverse("admin:events_clubjoinrequest_approve", args=[pending.pk]) in page
    assert "周末自驾" in page
    listing = client.get(reverse("admin:events_club_changelist")).content.decode()
    assert "上海车友会" in listing
    stays = client.get(reverse("admin:events_clubmembership_changelist"), {"club__id__exact": club.pk})
    assert stays.status_code == 200 and "李娜" in stays.content.decode()
    assert client.get(reverse("admin:events_clubjoinrequest_changelist"), {"status__exact": "pending"}).status_code == 200


def test_staff_approve_and_decline_requests_from_the_club_page(client, staff):
    club = ClubFactory(join_policy=JoinPolicy.APPROVAL)
    first, second = ClubJoinRequestFactory(club=club), ClubJoinRequestFactory(club=club)
    user = staff(CUSTOMER_SERVICE)
    client.force_login(user)
    approve_url = reverse("admin:events_clubjoinrequest_approve", args=[first.pk])
    assert client.get(approve_url).status_code == 200
    assert ClubJoinRequest.objects.get(pk=first.pk).status == JoinRequestStatus.PENDING  # GET changes nothing
    response = client.post(approve_url)
    assert response.status_code == 302 and response["Location"] == reverse("admin:events_club_change", args=[club.pk])
    decided = ClubJoinRequest.objects.get(pk=first.pk)
    assert decided.status == JoinRequestStatus.APPROVED and decided.decided_by_staff == user
    assert ClubMembership.objects.get(club=club, member=first.member).joined_via == JoinedVia.APPROVAL
    decline_url = reverse("admin:events_clubjoinrequest_decline", args=[second.pk])
    blank = client.post(decline_url, {"reason": ""})
    assert blank.status_code == 200 and ClubJoinRequest.objects.get(pk=second.pk).status == JoinRequestStatus.PENDING
    client.post(decline_url, {"reason": "Owners only"})
    assert ClubJoinRequest.objects.get(pk=second.pk).reason == "Owners only"
    again = client.post(approve_url)
    assert again.status_code == 200 and "already approved" in again.content.decode()


def test_a_full_club_refuses_the_approval_on_the_page(client, staff):
    club = ClubFactory(join_policy=JoinPolicy.APPROVAL, max_members=0)
    pending = ClubJoinRequestFactory(club=club)
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(reverse("admin:events_clubjoinrequest_approve", args=[pending.pk]))
    assert response.status_code == 200 and "The club is full" in response.content.decode()
    assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.PENDING


def test_staff_organiser_of_the_club_decides_without_the_general_right(client):
    club = ClubFactory(join_policy=JoinPolicy.APPROVAL)
    pending, elsewhere = ClubJoinRequestFactory(club=club), ClubJoinRequestFactory()
    organiser = UserFactory(role=CAMPAIGN_MANAGER)
    club.organiser_staff.add(organiser)
    client.force_login(organiser)
    assert client.post(reverse("admin:events_clubjoinrequest_decline", args=[elsewhere.pk]), {"reason": "no"}).status_code == 403
    assert client.post(reverse("admin:events_clubjoinrequest_approve", args=[pending.pk])).status_code == 302
    assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.APPROVED
    assert ClubJoinRequest.objects.get(pk=elsewhere.pk).status == JoinRequestStatus.PENDING


def test_roles_without_the_right_cannot_decide_or_change_members(client, staff):
    pending = ClubJoinRequestFactory()
    membership = services.club_member_add(club=ClubFactory(), member=MemberFactory(), actor=UserFactory(), reason="x")
    client.force_login(staff(ANALYST))
    assert client.post(reverse("admin:events_clubjoinrequest_approve", args=[pending.pk])).status_code == 403
    assert client.post(reverse("admin:events_clubmembership_remove_member", args=[membership.pk]), {"reason": "x"}).status_code == 403
    assert client.post(reverse("admin:events_club_add_member_page", args=[membership.club_id]), {"member": 1}).status_code == 403
    assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.PENDING
    assert ClubMembership.objects.get(pk=membership.pk).left_at is None


def test_staff_add_a_member_found_by_phone_and_remove_them_with_a_reason(client, staff):
    club = ClubFactory(join_policy=JoinPolicy.RULE, rule_cities="杭州")
    member = MemberFactory(name="赵敏", phone="+8613900139000", city="上海")
    user = staff(CUSTOMER_SERVICE)
    client.force_login(user)
    url = reverse("admin:events_club_add_member_page", args=[club.pk])
    found = client.get(url, {"q": "13900139000"}).content.decode()
    assert "赵敏" in found
    missing_reason = client.post(url, {"member": member.pk, "reason": " "})
    assert missing_reason.status_code == 200 and "A reason is required" in missing_reason.content.decode()
    assert not ClubMembership.objects.filter(club=club).exists()
    assert client.post(url, {"member": member.pk, "reason": "VIP 客户"}).status_code == 302
    membership = ClubMembership.objects.get(club=club, member=member)
    assert membership.joined_via == JoinedVia.STAFF and membership.reason == "VIP 客户"
    twice = client.post(url, {"member": member.pk, "reason": "again"})
    assert "already in this club" in twice.content.decode()

    role_url = reverse("admin:events_clubmembership_change_role", args=[membership.pk])
    client.post(role_url, {"role": "organiser"})
    assert ClubMembership.objects.get(pk=membership.pk).role == ClubRole.ORGANISER and club.organiser_members.filter(pk=member.pk).exists()
    remove_url = reverse("admin:events_clubmembership_remove_member", args=[membership.pk])
    assert client.post(remove_url, {"reason": ""}).status_code == 200
    assert client.post(remove_url, {"reason": "会员要求退出"}).status_code == 302
    removed = ClubMembership.objects.get(pk=membership.pk)
    assert removed.left_at is not None and removed.removed_by == user and removed.reason == "会员要求退出"
    history = client.get(reverse("admin:events_clubmembership_history", args=[membership.pk]))
    assert history.status_code == 200


def test_the_event_form_offers_members_only(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    event = EventFactory(club=ClubFactory(), members_only=True)
    form = client.get(reverse("admin:events_event_change", args=[event.pk])).context_data["adminform"].form
    assert "members_only" in form.fields and form.initial["members_only"] is True


def test_club_form_refuses_a_rule_club_without_a_rule(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(reverse("admin:events_club_add"), {"name": "无规则", "join_policy": "rule", "rule_cities": ""})
    assert response.status_code == 200
    assert "needs at least one rule" in str(response.context_data["adminform"].form.errors["join_policy"])
    ok = client.post(reverse("admin:events_club_add"), {"name": "金卡会", "join_policy": "rule", "rule_tiers": [tier("gold").pk]})
    assert ok.status_code == 302
