from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.models import ApiScope
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services
from apps.events.models import EventStatus, Registration, RegistrationState
from apps.members import services as member_services
from apps.members.models import PointsAccount
from tests.events.factories import ClubFactory, EventFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def test_member_lists_events_with_filters_and_seats(member_client):
    api, _member = member_client()
    club = ClubFactory()
    full = EventFactory(capacity=1, city="北京", club=club)
    services.registration_create(event=full, member=MemberFactory())
    open_event = EventFactory(city="上海")
    EventFactory(status=EventStatus.DRAFT)
    ids = [e["id"] for e in api.get("/api/v1/events/").json()["results"]]
    assert set(ids) == {full.pk, open_event.pk}
    assert [e["id"] for e in api.get("/api/v1/events/", {"has_seats": "true"}).json()["results"]] == [open_event.pk]
    assert [e["id"] for e in api.get("/api/v1/events/", {"club": club.pk}).json()["results"]] == [full.pk]
    assert api.get(f"/api/v1/events/{open_event.pk}/").json()["seats_left"] == 10


def test_register_cancel_and_ticket_are_the_members_own(member_client):
    api, _member = member_client()
    event = EventFactory()
    response = api.post(f"/api/v1/events/{event.pk}/register/", {"companions": 0}, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "registered" and body["ticket"]["qr_svg"].startswith("data:image/svg+xml")
    replay = api.post(f"/api/v1/events/{event.pk}/register/", {"companions": 0}, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    assert replay.json()["id"] == body["id"] and Registration.objects.count() == 1
    other_api, _other = member_client()
    assert other_api.get(f"/api/v1/me/registrations/{body['id']}/").status_code == 404
    assert other_api.post(f"/api/v1/me/registrations/{body['id']}/cancel/", HTTP_IDEMPOTENCY_KEY="c").status_code == 404
    assert other_api.get("/api/v1/me/registrations/").json()["count"] == 0
    cancelled = api.post(f"/api/v1/me/registrations/{body['id']}/cancel/", HTTP_IDEMPOTENCY_KEY="c")
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["ticket"] is None


def test_scanner_check_in_is_idempotent_and_says_already(trusted_client):
    api, _client = trusted_client(scopes=[ApiScope.EVENTS_CHECKIN])
    registration = services.registration_create(event=EventFactory(attendance_points=20, about_to_start=True), member=MemberFactory())
    payload = services.ticket_payload(registration)
    first = api.post("/api/v1/events/check-in/", {"ticket": payload}, format="json", HTTP_IDEMPOTENCY_KEY="scan-1")
    assert first.status_code == 200 and first.json()["already_checked_in"] is False
    second = api.post("/api/v1/events/check-in/", {"ticket": payload}, format="json", HTTP_IDEMPOTENCY_KEY="scan-2")
    assert second.json()["already_checked_in"] is True and "Already checked in at" in second.json()["message"]
    assert registration.member.points_account.__class__.objects.get(member=registration.member).balance == 20
    forbidden, _ = trusted_client(scopes=[ApiScope.MEMBERS_READ])
    assert forbidden.post("/api/v1/events/check-in/", {"ticket": payload}, format="json", HTTP_IDEMPOTENCY_KEY="s").status_code == 403


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST])
def test_back_office_pages_load_for_each_role(client, staff, role):
    event = EventFactory()
    services.registration_create(event=event, member=MemberFactory())
    club = ClubFactory()
    client.force_login(staff(role))
    for path in (
        reverse("admin:events_event_changelist"),
        reverse("admin:events_event_change", args=[event.pk]),
        reverse("admin:events_club_changelist"),
        reverse("admin:events_club_change", args=[club.pk]),
        reverse("admin:events_registration_changelist"),
    ):
        assert client.get(path).status_code == 200, (role, path)


def test_check_in_page_by_code_and_by_phone(client, staff):
    event = EventFactory(about_to_start=True)
    member = MemberFactory(phone="+8613800007777")
    registration = services.registration_create(event=event, member=member, companions=0)
    client.force_login(staff(CUSTOMER_SERVICE))
    url = reverse("admin:events_event_check_in_page", args=[event.pk])
    found = client.get(url, {"phone": "138 0000 7777"}).content.decode()
    assert member.name in found
    done = client.post(url, {"ticket": registration.ticket_code}).content.decode()
    assert "Welcome" in done
    again = client.post(url, {"ticket": registration.ticket_code}).content.decode()
    assert "Already checked in at" in again
    assert Registration.objects.get(pk=registration.pk).state == RegistrationState.ATTENDED


def test_check_in_days_before_is_refused_on_the_page_and_the_api_with_when_it_opens(client, staff, trusted_client):
    event = EventFactory()
    registration = services.registration_create(event=event, member=MemberFactory())
    client.force_login(staff(CUSTOMER_SERVICE))
    url = reverse("admin:events_event_check_in_page", args=[event.pk])
    page = client.get(url).content.decode()
    assert "Tickets are accepted from" in page
    refused = client.post(url, {"ticket": registration.ticket_code}).content.decode()
    assert 'data-testid="check-in-error"' in refused and "Check-in opens at" in refused and "Welcome" not in refused
    api, _client = trusted_client(scopes=[ApiScope.EVENTS_CHECKIN])
    answer = api.post("/api/v1/events/check-in/", {"ticket": registration.ticket_code}, format="json", HTTP_IDEMPOTENCY_KEY="early")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "check_in_not_open"
    assert Registration.objects.get(pk=registration.pk).state == RegistrationState.REGISTERED


def test_attendee_export_is_formula_safe_and_masked(client, staff):
    event = EventFactory()
    registration = services.registration_create(event=event, member=MemberFactory(name='=HYPERLINK("http://x")', phone="+8613800008888"))
    client.force_login(staff(ANALYST))
    content = client.get(reverse("admin:events_event_export_attendees", args=[event.pk])).content.decode("utf-8-sig")
    assert "'=HYPERLINK" in content and "+86138****8888" in content
    registered_at = timezone.localtime(registration.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f",{registered_at}," in content and "+00:00" not in content


def test_cancel_event_from_back_office(client, staff):
    event = EventFactory()
    services.registration_create(event=event, member=MemberFactory())
    client.force_login(staff(OPERATIONS_MANAGER))
    client.post(reverse("admin:events_event_cancel_event", args=[event.pk]), {"reason": "Venue flooded"})
    event.refresh_from_db()
    assert event.status == EventStatus.CANCELLED and event.cancel_reason == "Venue flooded"


def test_club_save_with_an_outsider_as_organiser_is_a_form_error(client, staff):
    club = ClubFactory(name="上海车友会")
    outsider = MemberFactory(name="王芳")
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:events_club_change", args=[club.pk])
    data = {"name": "上海车友会（新）", "city": "上海", "interest": "", "organiser_members": [outsider.pk], "join_policy": "open"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "An organiser must be a member of the club: 王芳" in response.context_data["adminform"].form.errors["organiser_members"][0]
    club.refresh_from_db()
    assert club.name == "上海车友会" and not club.organiser_members.exists()


def test_staff_register_a_member_from_the_event_page_with_the_api_rules(client, staff):
    event = EventFactory(points_price=300, capacity=1, max_companions=1)
    member = MemberFactory(name="李娜", phone="+8613800138000")
    member_services.points_earn(member=member, amount=500, reason="Purchase")
    client.force_login(staff(CUSTOMER_SERVICE))
    url = reverse("admin:events_event_register_member", args=[event.pk])
    found = client.get(url, {"q": "138 0013 8000"}).content.decode()
    assert 'data-testid="member-matches"' in found and "李娜" in found and "+8613800138000" in found
    too_many = client.post(url, {"member": member.pk, "companions": 2}).content.decode()
    assert 'data-testid="register-error"' in too_many and "At most 1 companions" in too_many
    poor = MemberFactory(name="王芳")
    broke = client.post(url, {"member": poor.pk}).content.decode()
    assert 'data-testid="register-error"' in broke and "points" in broke
    assert not Registration.objects.exists()
    done = client.post(url, {"member": member.pk, "companions": 0}, follow=True).content.decode()
    assert "李娜 is registered for" in done and "300 points were paid" in done
    registration = Registration.objects.get(member=member)
    assert reverse("admin:events_registration_change", args=[registration.pk]) in done  # where staff cancel it
    assert PointsAccount.objects.get(member=member).balance == 200
    again = client.post(url, {"member": member.pk, "companions": 0}).content.decode()
    assert "already registered" in again and Registration.objects.count() == 1
    waitlisted = client.post(url, {"member": poor.pk}, follow=True).content.decode()
    assert "on the waitlist" in waitlisted
    assert Registration.objects.get(member=poor).state == RegistrationState.WAITLISTED


def test_staff_register_from_the_member_page_and_cancel_with_a_refund(client, staff):
    member = MemberFactory(name="李娜")
    member_services.points_earn(member=member, amount=500, reason="Purchase")
    open_event = EventFactory(title="Spring drive", points_price=200)
    EventFactory(title="Draft drive", status=EventStatus.DRAFT)
    EventFactory(title="Later drive", registration_opens_at=timezone.now() + timedelta(days=1))
    gold_only = EventFactory(title="Gold drive")
    gold_only.eligible_tiers.set([tier("gold")])
    client.force_login(staff(CUSTOMER_SERVICE))
    member_page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    url = reverse("admin:events_event_register_for_member", args=[member.pk])
    assert f'href="{url}"' in member_page and "Register for an event" in member_page
    listing = client.get(url).content.decode()
    assert "Spring drive" in listing and "Gold drive" in listing and "Draft drive" not in listing and "Later drive" not in listing
    refused = client.post(url, {"event": gold_only.pk}).content.decode()
    assert "not open to the member&#x27;s tier" in refused and not Registration.objects.exists()
    client.post(url, {"event": open_event.pk})
    registration = Registration.objects.get(member=member)
    assert registration.state == RegistrationState.REGISTERED and PointsAccount.objects.get(member=member).balance == 300
    member_page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert reverse("admin:events_registration_change", args=[registration.pk]) in member_page
    client.post(reverse("admin:events_registration_cancel_registration", args=[registration.pk]), {"reason": "Member phoned"})
    assert Registration.objects.get(pk=registration.pk).state == RegistrationState.CANCELLED
    assert PointsAccount.objects.get(member=member).balance == 500


@pytest.mark.parametrize("role", [ANALYST, CAMPAIGN_MANAGER])
def test_registering_members_needs_the_registration_right(client, staff, role):
    event, member = EventFactory(), MemberFactory()
    client.force_login(staff(role))
    assert client.post(reverse("admin:events_event_register_member", args=[event.pk]), {"member": member.pk}).status_code == 403
    assert client.post(reverse("admin:events_event_register_for_member", args=[member.pk]), {"event": event.pk}).status_code == 403
    assert "Register for an event" not in client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert not Registration.objects.exists()
