import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse

from apps.core.models import AccessAction, AccessLogEntry
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services as event_services
from apps.members import services as member_services
from apps.members.models import Member
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def entries(action: str) -> list[AccessLogEntry]:
    return list(AccessLogEntry.objects.filter(action=action).order_by("id"))


def test_full_member_page_is_logged_for_roles_that_see_personal_data(client, staff):
    member = MemberFactory(phone="+8613800138000")
    user = staff(CUSTOMER_SERVICE)
    client.force_login(user)
    page = client.get(reverse("admin:members_member_change", args=[member.pk]), HTTP_USER_AGENT="pytest-browser", REMOTE_ADDR="10.1.2.3")
    assert "+8613800138000" in page.content.decode()
    [entry] = entries(AccessAction.VIEW_MEMBER_DETAIL)
    assert (entry.user, entry.username, entry.object_type, entry.object_id) == (user, user.username, "members.member", str(member.pk))
    assert (entry.ip, entry.user_agent) == ("10.1.2.3", "pytest-browser")


def test_masked_member_page_is_not_a_personal_data_view(client, staff):
    member = MemberFactory()
    client.force_login(staff(ANALYST))
    assert client.get(reverse("admin:members_member_change", args=[member.pk])).status_code == 200
    assert not AccessLogEntry.objects.exists()


def test_member_export_is_logged_with_its_row_count(client, staff):
    MemberFactory.create_batch(3)
    ids = list(Member.objects.values_list("pk", flat=True))
    client.force_login(staff(ANALYST))
    url = reverse("admin:members_member_changelist")
    client.post(url, {"action": "export_csv", "_selected_action": ids}).content  # noqa: B018 - the body is consumed
    client.post(url, {"action": "export_xlsx", "_selected_action": ids[:2]})
    assert [(e.object_type, e.row_count, e.detail) for e in entries(AccessAction.EXPORT)] == [
        ("members.member", 3, "members.csv"),
        ("members.member", 2, "members.xlsx"),
    ]


def test_attendee_export_is_logged(client, staff):
    event = EventFactory()
    event_services.registration_create(event=event, member=MemberFactory())
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get(reverse("admin:events_event_export_attendees", args=[event.pk])).status_code == 200
    [entry] = entries(AccessAction.EXPORT)
    assert (entry.object_type, entry.object_id, entry.row_count) == ("events.event.attendees", str(event.pk), 1)


def test_history_masks_personal_data_for_roles_without_the_right(client, staff):
    member = MemberFactory(phone="+8613800138000", email="old@example.com")
    member_services.member_update_profile(member=member, phone="+8613900139000", email="new@example.com")
    client.force_login(staff(ANALYST))
    history = client.get(reverse("admin:members_member_history", args=[member.pk])).content.decode()
    assert "+8613800138000" not in history and "+8613900139000" not in history and "new@example.com" not in history
    assert "+86139****9000" in history
    version = member.history.order_by("history_id").first().history_id
    assert client.get(reverse("admin:members_member_simple_history", args=[member.pk, version])).status_code == 403

    client.force_login(staff(CUSTOMER_SERVICE))
    assert "+8613900139000" in client.get(reverse("admin:members_member_history", args=[member.pk])).content.decode()
    assert [e.detail for e in entries(AccessAction.REVEAL)] == ["history"]


def test_access_log_is_read_only_for_auditors_and_hidden_from_others(client, staff):
    member = MemberFactory()
    client.force_login(staff(CUSTOMER_SERVICE))
    client.get(reverse("admin:members_member_change", args=[member.pk]))
    changelist = reverse("admin:core_accesslogentry_changelist")
    for role in (OPERATIONS_MANAGER, CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST):
        client.force_login(staff(role))
        assert client.get(changelist).status_code == 403, role
    client.force_login(staff(AUDITOR))
    listing = client.get(changelist, {"action__exact": AccessAction.VIEW_MEMBER_DETAIL})
    assert listing.status_code == 200 and listing.context["cl"].result_count == 1
    entry = AccessLogEntry.objects.get()
    assert client.get(reverse("admin:core_accesslogentry_change", args=[entry.pk])).status_code == 200
    assert client.post(reverse("admin:core_accesslogentry_delete", args=[entry.pk])).status_code == 403


def test_database_refuses_to_change_or_delete_access_log_rows(staff):
    member = MemberFactory()
    from apps.core.services import access_log_record

    entry = access_log_record(action=AccessAction.VIEW_MEMBER_DETAIL, user=staff(), object_type="members.member", object_id=member.pk)
    for attempt in (
        lambda: AccessLogEntry.objects.filter(pk=entry.pk).update(detail="tampered"),
        lambda: AccessLogEntry.objects.filter(pk=entry.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert AccessLogEntry.objects.get(pk=entry.pk).detail == ""


def test_import_error_report_download_is_logged(client, staff, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.imports.models import ImportJob
    from tests.imports.files import CHINESE_HEADER, write_csv
    from tests.imports.test_import import GOOD

    rows = [CHINESE_HEADER, *GOOD, ["X", "", "", "", "", "", "", "", "", ""]]
    upload = SimpleUploadedFile("members.csv", write_csv(tmp_path / "members.csv", rows).read_bytes(), content_type="text/csv")
    client.force_login(staff(OPERATIONS_MANAGER))
    client.post(reverse("admin:imports_importjob_add"), {"file": upload})
    job = ImportJob.objects.get()
    client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]))
    report = client.get(reverse("admin:imports_importjob_report", args=[job.pk]))
    b"".join(report.streaming_content)
    [entry] = entries(AccessAction.EXPORT)
    assert (entry.object_type, entry.object_id, entry.row_count) == ("imports.importjob.error_report", str(job.pk), 1)


def test_member_list_with_full_phones_is_logged_with_the_members_shown(client, staff):
    members = MemberFactory.create_batch(3)
    user = staff(CUSTOMER_SERVICE)
    client.force_login(user)
    page = client.get(reverse("admin:members_member_changelist")).content.decode()
    assert members[0].phone in page
    [entry] = entries(AccessAction.VIEW_MEMBER_LIST)
    assert (entry.user, entry.object_type, entry.row_count) == (user, "members.member", 3)
    assert entry.object_ids == ",".join(str(m.pk) for m in reversed(members))

    client.get(reverse("admin:members_member_changelist") + f"?q={members[1].external_id}")
    assert entries(AccessAction.VIEW_MEMBER_LIST)[-1].object_ids == str(members[1].pk)

    client.force_login(staff(AUDITOR))
    found = client.get(reverse("admin:core_accesslogentry_changelist") + f"?q={members[0].pk}").context["cl"].result_list
    assert [e.pk for e in found] == [entries(AccessAction.VIEW_MEMBER_LIST)[0].pk]


def test_masked_member_list_is_not_logged(client, staff):
    MemberFactory.create_batch(2)
    for role in (ANALYST, CAMPAIGN_MANAGER, AUDITOR):
        client.force_login(staff(role))
        assert client.get(reverse("admin:members_member_changelist")).status_code == 200
    assert not AccessLogEntry.objects.exists()
