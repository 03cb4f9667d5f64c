"""Club join policies, decisions, leaving and rejoining, staff changes and roles, members-only events."""

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.events import services
from apps.events.models import ClubJoinRequest, ClubMembership, ClubRole, JoinedVia, JoinPolicy, JoinRequestStatus, Registration
from apps.members.models import MemberStatus
from tests.core.factories import UserFactory
from tests.events.factories import ClubFactory, ClubJoinRequestFactory, EventFactory
from tests.members.factories import MemberFactory, TagFactory, tier

pytestmark = pytest.mark.django_db


def code_of(call) -> str:
    return refusal(call).code


def refusal(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as error:
        call()
    return error.value


def active(club) -> list[int]:
    return sorted(ClubMembership.objects.filter(club=club, left_at__isnull=True).values_list("member_id", flat=True))


class TestOpenClub:
    def test_join_leave_and_rejoin_keep_every_stay(self):
        club, member = ClubFactory(), MemberFactory()
        outcome = services.club_join_request(club=club, member=member)
        assert outcome.state == "joined" and outcome.membership.joined_via == JoinedVia.OPEN
        assert code_of(lambda: services.club_join_request(club=club, member=member)) == "already_in_club"
        services.club_leave(club=club, member=member)
        assert active(club) == [] and code_of(lambda: services.club_leave(club=club, member=member)) == "not_in_club"
        services.club_join_request(club=club, member=member)
        stays = list(ClubMembership.objects.filter(club=club, member=member).order_by("pk"))
        assert len(stays) == 2 and stays[0].left_at is not None and stays[1].left_at is None

    def test_a_member_limit_refuses_the_next_one_and_frees_up_on_leave(self):
        club = ClubFactory(max_members=1)
        first, second = MemberFactory(), MemberFactory()
        services.club_join_request(club=club, member=first)
        assert code_of(lambda: services.club_join_request(club=club, member=second)) == "club_full"
        services.club_leave(club=club, member=first)
        services.club_join_request(club=club, member=second)
        assert active(club) == [second.pk]

    def test_a_frozen_member_cannot_join(self):
        member = MemberFactory(status=MemberStatus.FROZEN)
        club = ClubFactory()
        assert code_of(lambda: services.club_join_request(club=club, member=member)) == "member_not_active"
        assert active(club) == []


class TestClubByRule:
    def test_tier_city_and_tag_rules_admit_or_refuse_with_the_reason(self):
        club = ClubFactory(join_policy=JoinPolicy.RULE, rule_cities="上海， 杭州")
        club.rule_tiers.set([tier("gold")])
        club.rule_tags.set([TagFactory(name="车主")])
        owner = MemberFactory(tier=tier("gold"), city="杭州")
        owner.tags.add(TagFactory(name="车主"))
        outcome = services.club_join_request(club=club, member=owner)
        assert outcome.state == "joined" and outcome.membership.joined_via == JoinedVia.RULE

        basic = MemberFactory(city="上海")
        basic.tags.add(TagFactory(name="车主"))
        with pytest.raises(ApplicationError) as refused:
            services.club_join_request(club=club, member=basic)
        assert refused.value.code == "club_rule_not_met" and refused.value.http_status == 409
        assert "Gold" in refused.value.message or "金卡" in refused.value.message

        elsewhere = MemberFactory(tier=tier("gold"), city="北京")
        elsewhere.tags.add(TagFactory(name="车主"))
        assert "上海, 杭州" in refusal(lambda: services.club_join_request(club=club, member=elsewhere)).message

        untagged = MemberFactory(tier=tier("gold"), city="上海")
        assert "车主" in refusal(lambda: services.club_join_request(club=club, member=untagged)).message
        assert active(club) == [owner.pk]

    def test_a_rule_club_needs_a_rule(self):
        club = ClubFactory.build(name="空规则", join_policy=JoinPolicy.RULE)
        with pytest.raises(ApplicationError) as error:
            services.club_save(club=club)
        assert error.value.code == "invalid_club" and list(error.value.fields) == ["join_policy"]
        services.club_save(club=club, rule_tiers=[tier("vip")])
        assert list(club.rule_tiers.all()) == [tier("vip")]


class TestClubByApproval:
    def setup_method(self):
        self.club = ClubFactory(join_policy=JoinPolicy.APPROVAL)
        self.organiser = MemberFactory(name="组织者")
        services.club_member_add(club=self.club, member=self.organiser, actor=UserFactory(), reason="founder")
        services.club_role_set(club=self.club, member=self.organiser, role=ClubRole.ORGANISER)

    def test_a_request_waits_once_and_an_organiser_approves_it(self):
        member = MemberFactory()
        first = services.club_join_request(club=self.club, member=member, message="Own an ES6")
        again = services.club_join_request(club=self.club, member=member)
        assert first.state == again.state == "pending" and first.request.pk == again.request.pk
        assert active(self.club) == [self.organiser.pk]
        membership = services.club_join_approve(join_request=first.request, organiser=self.organiser)
        assert membership.joined_via == JoinedVia.APPROVAL and membership.member_id == member.pk
        decided = ClubJoinRequest.objects.get(pk=first.request.pk)
        assert decided.status == JoinRequestStatus.APPROVED and decided.decided_by_member_id == self.organiser.pk
        assert code_of(lambda: services.club_join_approve(join_request=decided, organiser=self.organiser)) == "join_request_decided"
        assert code_of(lambda: services.club_join_decline(join_request=decided, reason="x", staff=UserFactory())) == "join_request_decided"

    def test_decline_needs_a_reason_and_the_member_may_ask_again(self):
        member = MemberFactory()
        pending = services.club_join_request(club=self.club, member=member).request
        staff = UserFactory()
        assert code_of(lambda: services.club_join_decline(join_request=pending, reason="  ", staff=staff)) == "reason_required"
        assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.PENDING
        declined = services.club_join_decline(join_request=pending, reason="Owners only", staff=staff)
        assert declined.status == JoinRequestStatus.DECLINED and declined.reason == "Owners only" and declined.decided_by_staff == staff
        assert services.club_join_request(club=self.club, member=member).request.pk != pending.pk

    def test_only_an_organiser_of_this_club_decides(self):
        pending = services.club_join_request(club=self.club, member=MemberFactory()).request
        other_club = ClubFactory()
        stranger = MemberFactory()
        services.club_join_request(club=other_club, member=stranger)
        services.club_role_set(club=other_club, member=stranger, role=ClubRole.ORGANISER)
        plain = MemberFactory()
        services.club_member_add(club=self.club, member=plain, actor=UserFactory(), reason="friend")
        for outsider in (stranger, plain):
            assert code_of(lambda o=outsider: services.club_join_approve(join_request=pending, organiser=o)) == "join_request_not_found"
        assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.PENDING

    def test_approval_at_the_member_limit_is_refused_and_the_request_stays_pending(self):
        self.club.max_members = 1
        self.club.save()
        pending = ClubJoinRequestFactory(club=self.club)
        assert code_of(lambda: services.club_join_approve(join_request=pending, staff=UserFactory())) == "club_full"
        assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.PENDING

    def test_leaving_withdraws_a_pending_request(self):
        member = MemberFactory()
        pending = services.club_join_request(club=self.club, member=member).request
        withdrawn = services.club_leave(club=self.club, member=member)
        assert withdrawn.pk == pending.pk and withdrawn.status == JoinRequestStatus.WITHDRAWN

    def test_staff_adding_a_requester_approves_the_request(self):
        member = MemberFactory()
        pending = services.club_join_request(club=self.club, member=member).request
        staff = UserFactory()
        membership = services.club_member_add(club=self.club, member=member, actor=staff, reason="VIP service")
        assert membership.joined_via == JoinedVia.STAFF and membership.reason == "VIP service"
        assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.APPROVED


class TestStaffAndRoles:
    def test_staff_add_and_remove_with_a_reason_and_roles_follow_the_organisers(self):
        club, member, staff = ClubFactory(), MemberFactory(), UserFactory()
        assert code_of(lambda: services.club_member_add(club=club, member=member, actor=staff, reason="")) == "reason_required"
        services.club_member_add(club=club, member=member, actor=staff, reason="Met at the store")
        assert code_of(lambda: services.club_member_add(club=club, member=member, actor=staff, reason="again")) == "already_in_club"
        membership = services.club_role_set(club=club, member=member, role=ClubRole.ORGANISER)
        assert list(club.organiser_members.all()) == [member] and services.is_club_organiser(club=club, member=member)
        assert code_of(lambda: services.club_role_set(club=club, member=member, role="king")) == "invalid_role"
        roles = [h.role for h in membership.history.order_by("history_date")]
        assert roles == [ClubRole.MEMBER, ClubRole.ORGANISER]
        removed = services.club_member_remove(club=club, member=member, actor=staff, reason="Left the brand")
        assert removed.removed_by == staff and removed.reason == "Left the brand" and removed.left_at is not None
        assert not club.organiser_members.exists()
        assert code_of(lambda: services.club_member_remove(club=club, member=member, actor=staff, reason="x")) == "not_in_club"
        assert code_of(lambda: services.club_role_set(club=club, member=member, role=ClubRole.MEMBER)) == "not_in_club"

    def test_choosing_organisers_on_the_club_form_sets_their_role(self):
        club = ClubFactory()
        first, second = MemberFactory(), MemberFactory()
        for member in (first, second):
            services.club_join_request(club=club, member=member)
        services.club_save(club=club, organiser_members=[first])
        services.club_save(club=club, organiser_members=[second])
        roles = dict(ClubMembership.objects.filter(club=club).values_list("member_id", "role"))
        assert roles == {first.pk: ClubRole.MEMBER, second.pk: ClubRole.ORGANISER}


class TestMembersOnlyEvents:
    def test_registration_is_refused_to_non_members_with_a_clear_error(self):
        club = ClubFactory(name="杭州车友会")
        event = EventFactory(club=club, members_only=True)
        outsider = MemberFactory()
        with pytest.raises(ApplicationError) as refused:
            services.registration_create(event=event, member=outsider)
        assert refused.value.code == "club_members_only" and "杭州车友会" in refused.value.message
        assert not Registration.objects.filter(event=event).exists()
        services.club_join_request(club=club, member=outsider)
        assert services.registration_create(event=event, member=outsider).state == "registered"

    def test_a_former_member_is_refused_and_an_open_event_of_the_club_is_not_restricted(self):
        club = ClubFactory()
        member = MemberFactory()
        services.club_join_request(club=club, member=member)
        services.club_leave(club=club, member=member)
        assert code_of(lambda: services.registration_create(event=EventFactory(club=club, members_only=True), member=member)) == (
            "club_members_only"
        )
        assert services.registration_create(event=EventFactory(club=club), member=member).state == "registered"

    def test_a_waitlisted_member_who_left_the_club_is_not_seated(self):
        club = ClubFactory(name="越野会")
        event = EventFactory(club=club, members_only=True, capacity=1)
        seated, leaving, staying = MemberFactory.create_batch(3)
        for member in (seated, leaving, staying):
            services.club_join_request(club=club, member=member)
            services.registration_create(event=event, member=member)
        services.club_leave(club=club, member=leaving)
        promoted = services.registration_cancel(registration=Registration.objects.get(event=event, member=seated))
        assert [r.member_id for r in promoted] == [staying.pk]
        skipped = Registration.objects.get(event=event, member=leaving)
        assert skipped.state == "cancelled" and "越野会" in skipped.cancel_reason

    def test_members_only_needs_a_club(self):
        event = EventFactory.build(members_only=True, club=None, registration_opens_at=timezone.now())
        with pytest.raises(ApplicationError) as error:
            services.event_check(event=event)
        assert "members_only" in error.value.fields
