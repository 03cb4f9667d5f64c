from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.events import services
from apps.events.models import Event, EventStatus, Registration, RegistrationState
from apps.members import services as member_services
from apps.members.models import PointsAccount
from tests.events.factories import ClubFactory, EventFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def code_of(call) -> str:
    with pytest.raises(ApplicationError) as error:
        call()
    return error.value.code


def balance(member) -> int:
    return PointsAccount.objects.get(member=member).balance


class TestRegistration:
    def test_register_pays_points_and_takes_seats(self):
        event = EventFactory(points_price=200, max_companions=2)
        member = MemberFactory()
        member_services.points_earn(member=member, amount=500, reason="Purchase")
        registration = services.registration_create(event=event, member=member, companions=2)
        assert registration.state == RegistrationState.REGISTERED and registration.payment.amount == -200
        assert balance(member) == 300
        assert Event.objects.get(pk=event.pk).seats_taken == 3

    def test_refusals(self):
        member = MemberFactory()
        assert (
            code_of(lambda: services.registration_create(event=EventFactory(status=EventStatus.DRAFT), member=member)) == "event_not_open"
        )
        closed = EventFactory(registration_opens_at=timezone.now() + timedelta(hours=1))
        assert code_of(lambda: services.registration_create(event=closed, member=member)) == "registration_closed"
        gold = EventFactory()
        gold.eligible_tiers.set([tier("gold")])
        assert code_of(lambda: services.registration_create(event=gold, member=member)) == "not_eligible_tier"
        assert (
            code_of(lambda: services.registration_create(event=EventFactory(max_companions=1), member=member, companions=2))
            == "too_many_companions"
        )
        assert code_of(lambda: services.registration_create(event=EventFactory(points_price=10), member=member)) == "insufficient_points"
        event = EventFactory()
        services.registration_create(event=event, member=member)
        assert code_of(lambda: services.registration_create(event=event, member=member)) == "already_registered"
        member_services.member_freeze(member=member, reason="check")
        assert code_of(lambda: services.registration_create(event=EventFactory(), member=member)) == "member_frozen"
        assert not Registration.objects.filter(payment__isnull=False).exists()

    def test_full_event_waitlists_in_arrival_order_and_cancel_promotes(self):
        event = EventFactory(capacity=2, max_companions=1)
        first, second, third, fourth = MemberFactory.create_batch(4)
        seated = services.registration_create(event=event, member=first, companions=1)
        waiting = [services.registration_create(event=event, member=m) for m in (second, third, fourth)]
        assert [r.state for r in waiting] == [RegistrationState.WAITLISTED] * 3
        promoted = services.registration_cancel(registration=seated)
        assert [r.member for r in promoted] == [second, third]
        assert Registration.objects.get(member=fourth).state == RegistrationState.WAITLISTED
        assert Event.objects.get(pk=event.pk).seats_taken == 2

    def test_cancel_before_deadline_refunds_after_does_not(self):
        member = MemberFactory()
        member_services.points_earn(member=member, amount=1000, reason="Purchase")
        early = services.registration_create(event=EventFactory(points_price=100), member=member)
        services.registration_cancel(registration=early)
        assert balance(member) == 1000
        late_event = EventFactory(points_price=100, cancellation_deadline=timezone.now() - timedelta(minutes=1))
        late = services.registration_create(event=late_event, member=member)
        services.registration_cancel(registration=late)
        assert balance(member) == 900
        assert code_of(lambda: services.registration_cancel(registration=late)) == "not_cancellable"

    def test_promoted_member_without_points_is_skipped(self):
        event = EventFactory(capacity=1, points_price=50)
        rich, poor, next_rich = MemberFactory.create_batch(3)
        for member in (rich, next_rich):
            member_services.points_earn(member=member, amount=100, reason="Purchase")
        seated = services.registration_create(event=event, member=rich)
        services.registration_create(event=event, member=poor)
        services.registration_create(event=event, member=next_rich)
        assert [r.member for r in services.registration_cancel(registration=seated)] == [next_rich]
        assert Registration.objects.get(member=poor).state == RegistrationState.CANCELLED


class TestEventLifecycle:
    def test_cancel_event_refunds_everyone(self):
        event = EventFactory(points_price=100, capacity=1)
        members = MemberFactory.create_batch(2)
        for member in members:
            member_services.points_earn(member=member, amount=100, reason="Purchase")
            services.registration_create(event=event, member=member)
        assert code_of(lambda: services.event_cancel(event=event, reason="")) == "reason_required"
        assert services.event_cancel(event=event, reason="Typhoon warning") == 2
        assert [balance(m) for m in members] == [100, 100]
        assert Event.objects.get(pk=event.pk).seats_taken == 0
        assert code_of(lambda: services.event_publish(event=event)) == "invalid_status"

    def test_transitions_and_checks(self):
        event = EventFactory(status=EventStatus.DRAFT)
        services.event_publish(event=event)
        services.event_close(event=event)
        assert code_of(lambda: services.event_close(event=event)) == "invalid_status"
        services.event_finish(event=event)
        bad = EventFactory.build(kind="online", online_url="", ends_at=timezone.now(), starts_at=timezone.now() + timedelta(days=1))
        with pytest.raises(ApplicationError) as error:
            services.event_check(event=bad)
        assert {"online_url", "ends_at"} <= set(error.value.fields)

    def test_no_shows_after_the_event(self):
        event = EventFactory(capacity=1, about_to_start=True)
        came, skipped, waiting = MemberFactory.create_batch(3)
        services.registration_create(event=event, member=came)
        Event.objects.filter(pk=event.pk).update(capacity=2)
        services.registration_create(event=event, member=skipped)
        Event.objects.filter(pk=event.pk).update(capacity=2)
        services.registration_create(event=event, member=waiting)
        services.registration_check_in(ticket=Registration.objects.get(member=came).ticket_code)
        Event.objects.filter(pk=event.pk).update(starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(hours=1))
        assert services.events_mark_no_shows() == 1
        assert services.events_mark_no_shows() == 0
        states = dict(Registration.objects.values_list("member_id", "state"))
        assert states == {came.pk: "attended", skipped.pk: "no_show", waiting.pk: "cancelled"}
        assert Event.objects.get(pk=event.pk).status == EventStatus.FINISHED


class TestCheckIn:
    def test_check_in_once_awards_points_once(self):
        event = EventFactory(attendance_points=50, about_to_start=True)
        member = MemberFactory()
        registration = services.registration_create(event=event, member=member)
        first = services.registration_check_in(ticket=services.ticket_payload(registration), event=event)
        again = services.registration_check_in(ticket=registration.ticket_code.lower(), event=event)
        assert (first.already, again.already) == (False, True)
        assert again.registration.checked_in_at == first.registration.checked_in_at
        assert balance(member) == 50

    def test_forged_unknown_and_wrong_event_tickets_are_refused(self):
        event = EventFactory(about_to_start=True)
        registration = services.registration_create(event=event, member=MemberFactory())
        payload = services.ticket_payload(registration)
        forged = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
        assert code_of(lambda: services.registration_check_in(ticket=forged)) == "ticket_forged"
        assert code_of(lambda: services.registration_check_in(ticket="ZZZZZZZZZZ")) == "ticket_not_found"
        assert code_of(lambda: services.registration_check_in(ticket=registration.ticket_code, event=EventFactory())) == "ticket_not_found"
        services.registration_cancel(registration=registration)
        assert code_of(lambda: services.registration_check_in(ticket=registration.ticket_code)) == "ticket_not_valid"

    def test_check_in_is_refused_outside_its_window_and_says_when(self, settings):
        settings.USEROPS_EVENTS = {**settings.USEROPS_EVENTS, "CHECK_IN_OPENS_HOURS_BEFORE": 3}
        event = EventFactory()
        registration = services.registration_create(event=event, member=MemberFactory())
        days_before = event.starts_at - timedelta(days=6)
        with pytest.raises(ApplicationError) as early:
            services.registration_check_in(ticket=registration.ticket_code, now=days_before)
        opens = timezone.localtime(event.starts_at - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
        assert early.value.code == "check_in_not_open" and opens in early.value.message and "3 hours" in early.value.message
        too_late = event.ends_at + timedelta(minutes=1)
        assert code_of(lambda: services.registration_check_in(ticket=registration.ticket_code, now=too_late)) == "check_in_closed"
        assert Registration.objects.get(pk=registration.pk).state == RegistrationState.REGISTERED
        assert balance(registration.member) == 0
        at_opening = event.starts_at - timedelta(hours=3)
        assert services.registration_check_in(ticket=registration.ticket_code, now=at_opening).registration.checked_in_at == at_opening


class TestClubs:
    def test_join_leave_and_organisers(self):
        club = ClubFactory()
        member = MemberFactory()
        assert code_of(lambda: services.club_add_organiser(club=club, member=member)) == "not_in_club"
        services.club_join_request(club=club, member=member)
        assert code_of(lambda: services.club_join_request(club=club, member=member)) == "already_in_club"
        services.club_add_organiser(club=club, member=member)
        services.club_leave(club=club, member=member)
        assert not club.organiser_members.exists()
        services.club_join_request(club=club, member=member)
        assert club.memberships.count() == 2


def test_club_organisers_must_be_current_members_of_the_club():
    club = ClubFactory()
    insider, outsider = MemberFactory(), MemberFactory(name="王芳")
    services.club_join_request(club=club, member=insider)
    with pytest.raises(ApplicationError) as error:
        services.club_save(club=club, organiser_members=[insider, outsider])
    assert error.value.code == "not_in_club" and "王芳" in error.value.message
    assert list(error.value.fields) == ["organiser_members"]
    services.club_save(club=club, organiser_members=[insider])
    assert list(club.organiser_members.all()) == [insider]
