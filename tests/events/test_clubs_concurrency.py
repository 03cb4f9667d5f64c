"""Club limits and decisions under real concurrent requests on PostgreSQL."""

import pytest

from apps.events import services
from apps.events.models import ClubJoinRequest, ClubMembership, ClubRole, JoinPolicy, JoinRequestStatus
from tests.core.factories import UserFactory
from tests.events.factories import ClubFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_two_approvals_of_one_request_admit_the_member_once():
    club = ClubFactory(join_policy=JoinPolicy.APPROVAL)
    organiser = MemberFactory()
    services.club_member_add(club=club, member=organiser, actor=UserFactory(), reason="founder")
    services.club_role_set(club=club, member=organiser, role=ClubRole.ORGANISER)
    pending = services.club_join_request(club=club, member=MemberFactory()).request
    staff = UserFactory()

    def approve(index: int) -> str:
        if index % 2:
            services.club_join_approve(join_request=pending, staff=staff)
        else:
            services.club_join_approve(join_request=pending, organiser=organiser)
        return "approved"

    outcomes = run_at_once(approve, threads=6)
    assert outcomes == {"approved": 1, "join_request_decided": 5}
    assert ClubMembership.objects.filter(club=club, member=pending.member, left_at__isnull=True).count() == 1
    assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.APPROVED


def test_joins_racing_for_the_last_places_never_exceed_the_limit():
    club = ClubFactory(max_members=5)
    members = MemberFactory.create_batch(16)

    def join(index: int) -> str:
        return services.club_join_request(club=club, member=members[index]).state

    outcomes = run_at_once(join)
    assert outcomes == {"joined": 5, "club_full": 11}
    assert ClubMembership.objects.filter(club=club, left_at__isnull=True).count() == 5


def test_one_member_joining_from_many_devices_is_in_the_club_once():
    club = ClubFactory()
    member = MemberFactory()

    def join(index: int) -> str:
        return services.club_join_request(club=club, member=member).state

    outcomes = run_at_once(join, threads=8)
    assert outcomes == {"joined": 1, "already_in_club": 7}


def test_one_member_asking_many_times_has_one_pending_request():
    club = ClubFactory(join_policy=JoinPolicy.APPROVAL)
    member = MemberFactory()

    def ask(index: int) -> str:
        return services.club_join_request(club=club, member=member).state

    assert run_at_once(ask, threads=8) == {"pending": 8}
    assert ClubJoinRequest.objects.filter(club=club, member=member).count() == 1
