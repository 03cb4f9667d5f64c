"""The back office: dealers, product transfers, the lead upload (bad rows by number and column), enrolment, recording
journey events from a member's page, and what each role may reach by URL."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.analytics.models import ActivityEvent
from apps.core.models import AccessAction, AccessLogEntry
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members.models import Member, MemberStatus
from apps.sales.models import Dealer, Lead, OwnedProduct, Ownership
from tests.members.factories import MemberFactory
from tests.sales.factories import DealerFactory, LeadFactory, OwnedProductFactory, VehicleKindFactory, valid_vin

pytestmark = pytest.mark.django_db

HEADER = "source_ref,name,phone,dealer,channel,interest,received_at\n"


def csv_file(body: str, name: str = "leads.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (HEADER + body).encode("utf-8-sig"), content_type="text/csv")


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CUSTOMER_SERVICE, ANALYST])
def test_lists_and_pages_load_for_roles_that_read_them(client, staff, role):
    car = OwnedProductFactory()
    lead = LeadFactory(dealer=DealerFactory())
    client.force_login(staff(role))
    for url in (
        reverse("admin:sales_dealer_changelist"),
        reverse("admin:sales_ownedproduct_changelist"),
        reverse("admin:sales_ownedproduct_change", args=[car.pk]),
        reverse("admin:sales_lead_changelist"),
        reverse("admin:sales_lead_change", args=[lead.pk]),
        reverse("admin:members_member_change", args=[car.owner_id]),
    ):
        assert client.get(url).status_code == 200, (role, url)


@pytest.mark.parametrize("role", [CAMPAIGN_MANAGER, AUDITOR])
def test_roles_without_leads_cannot_open_them(client, staff, role):
    lead = LeadFactory()
    client.force_login(staff(role))
    assert client.get(reverse("admin:sales_lead_changelist")).status_code == 403
    assert client.get(reverse("admin:sales_lead_change", args=[lead.pk])).status_code == 403


def test_lead_phones_are_masked_without_the_personal_data_right(client, staff):
    lead = LeadFactory(phone="+8613812345678")
    client.force_login(staff(ANALYST))
    page = client.get(reverse("admin:sales_lead_change", args=[lead.pk])).content.decode()
    assert "+8613812345678" not in page and "5678" in page
    assert client.get(reverse("admin:sales_lead_changelist") + "?phone=%2B8613812345678").status_code in (200, 302, 400)
    client.force_login(staff(CUSTOMER_SERVICE))
    assert "+8613812345678" in client.get(reverse("admin:sales_lead_change", args=[lead.pk])).content.decode()


def test_the_lead_list_masks_phones_without_the_right_and_logs_full_views(client, staff):
    leads = [LeadFactory(phone="+8613812345678"), LeadFactory(phone="+8613987654321")]
    client.force_login(staff(ANALYST))
    page = client.get(reverse("admin:sales_lead_changelist")).content.decode()
    assert "+8613812345678" not in page and "+8613987654321" not in page and "5678" in page
    client.get(reverse("admin:sales_lead_change", args=[leads[0].pk]))
    assert not AccessLogEntry.objects.exists()

    reader = staff(CUSTOMER_SERVICE)
    client.force_login(reader)
    page = client.get(reverse("admin:sales_lead_changelist")).content.decode()
    assert "+8613812345678" in page and "+8613987654321" in page
    listed = AccessLogEntry.objects.get()
    assert (listed.user, listed.action, listed.object_type, listed.row_count) == (reader, AccessAction.VIEW_MEMBER_LIST, "sales.lead", 2)
    assert sorted(listed.object_ids.split(",")) == sorted(str(lead.pk) for lead in leads)
    client.get(reverse("admin:sales_lead_change", args=[leads[0].pk]))
    viewed = AccessLogEntry.objects.latest("id")
    assert (viewed.action, viewed.object_type, viewed.object_id) == (AccessAction.VIEW_MEMBER_DETAIL, "sales.lead", str(leads[0].pk))


def test_an_operations_manager_adds_a_dealer_and_a_duplicate_code_is_a_form_error(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    url = reverse("admin:sales_dealer_add")
    data = {"code": "sh001", "name": "上海浦东店", "city": "上海", "region": "华东", "active": "on"}
    assert client.post(url, data).status_code == 302
    assert Dealer.objects.get().code == "SH001"
    again = client.post(url, {**data, "name": "Another"})
    assert again.status_code == 200 and "SH001" in again.content.decode()
    assert Dealer.objects.count() == 1


def test_upload_stores_every_good_row(client, staff):
    DealerFactory(code="SH001")
    existing = MemberFactory(phone="+8613900139000")
    client.force_login(staff(OPERATIONS_MANAGER))
    body = "U1,张三,13800138000,SH001,dealer,ES6,2026-11-30 10:00\nU2,李四,13900139000,,online,,\n"
    response = client.post(reverse("admin:sales_lead_upload_file"), {"file": csv_file(body)})
    assert response.status_code == 302, response.context and response.context.get("problems")
    assert response.url == reverse("admin:sales_lead_changelist"), response.url
    assert Lead.objects.count() == 2 and Lead.objects.get(source_ref="U2").member == existing
    assert Member.objects.get(phone="+8613800138000").status == MemberStatus.PROSPECT


def test_upload_with_bad_rows_lists_each_by_row_and_column_and_stores_nothing(client, staff):
    DealerFactory(code="SH001")
    client.force_login(staff(OPERATIONS_MANAGER))
    body = (
        "U1,张三,13800138000,SH001,dealer,ES6,\n"
        "U2,李四,12345,SH001,dealer,,\n"
        "U3,,13700137000,SH001,dealer,,\n"
        "U4,王五,13600136000,XX001,dealer,,\n"
        "U5,赵六,13500135000,SH001,fax,,\n"
        "U1,重复,13400134000,SH001,dealer,,\n"
    )
    response = client.post(reverse("admin:sales_lead_upload_file"), {"file": csv_file(body)})
    assert response.status_code == 200
    problems = response.context["problems"]
    assert [(p.row, p.column) for p in problems] == [(3, "phone"), (4, "name"), (5, "dealer"), (6, "channel"), (7, "source_ref")]
    assert "XX001" in response.content.decode()
    assert not Lead.objects.exists() and not Member.objects.exists()


def test_upload_reads_excel_and_refuses_unknown_columns(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    book = openpyxl.Workbook()
    book.active.append(["source_ref", "name", "phone"])
    book.active.append(["X1", "钱七", "13300133000"])
    buffer = io.BytesIO()
    book.save(buffer)
    upload = SimpleUploadedFile("leads.xlsx", buffer.getvalue())
    assert client.post(reverse("admin:sales_lead_upload_file"), {"file": upload}).status_code == 302
    assert Lead.objects.get().name == "钱七"
    wrong = SimpleUploadedFile("leads.csv", "source_ref,name,colour\nX2,孙八,red\n".encode())
    response = client.post(reverse("admin:sales_lead_upload_file"), {"file": wrong})
    assert response.status_code == 200 and "colour" in response.content.decode()
    assert Lead.objects.count() == 1


def test_upload_reads_gb18030_from_chinese_excel(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    upload = SimpleUploadedFile("leads.csv", "source_ref,name,phone,city\nG1,周子涵,13800138000,成都\n".encode("gb18030"))
    assert client.post(reverse("admin:sales_lead_upload_file"), {"file": upload}).status_code == 302
    assert Lead.objects.get().city == "成都"


def test_a_campaign_manager_reads_dealers_and_products(client, staff):
    car = OwnedProductFactory()
    client.force_login(staff(CAMPAIGN_MANAGER))
    assert client.get(reverse("admin:sales_dealer_changelist")).status_code == 200
    assert client.get(reverse("admin:sales_ownedproduct_change", args=[car.pk])).status_code == 200


def test_only_roles_with_the_right_may_upload(client, staff):
    for role in (CUSTOMER_SERVICE, ANALYST):
        client.force_login(staff(role))
        assert client.get(reverse("admin:sales_lead_upload_file")).status_code == 403
        assert client.post(reverse("admin:sales_lead_upload_file"), {"file": csv_file("U9,甲,13800138000,,,,\n")}).status_code == 403
    assert not Lead.objects.exists()


def test_transfer_page_moves_the_product_and_a_bad_owner_is_a_form_error(client, staff):
    car = OwnedProductFactory()
    buyer = MemberFactory(external_id="BUYER-1")
    url = reverse("admin:sales_ownedproduct_transfer", args=[car.pk])
    client.force_login(staff(OPERATIONS_MANAGER))
    assert client.get(url).status_code == 200
    wrong = client.post(url, {"to_member": "NOBODY", "note": ""})
    assert wrong.status_code == 200 and "NOBODY" in wrong.content.decode()
    assert client.post(url, {"to_member": "BUYER-1", "note": "Family"}).status_code == 302
    car.refresh_from_db()
    assert car.owner == buyer and Ownership.objects.filter(product=car).count() == 2


@pytest.mark.parametrize("role", [CUSTOMER_SERVICE, ANALYST, CAMPAIGN_MANAGER])
def test_lower_roles_cannot_transfer(client, staff, role):
    car = OwnedProductFactory()
    buyer = MemberFactory()
    client.force_login(staff(role))
    response = client.post(reverse("admin:sales_ownedproduct_transfer", args=[car.pk]), {"to_member": str(buyer.pk)})
    assert response.status_code == 403
    car.refresh_from_db()
    assert car.owner != buyer


def test_customer_service_records_a_test_drive_and_a_delivery_with_a_bad_vin_is_refused(client, staff, django_capture_on_commit_callbacks):
    dealer, kind = DealerFactory(code="CD001"), VehicleKindFactory()
    prospect = LeadFactory(member=MemberFactory(status=MemberStatus.PROSPECT)).member
    url = reverse("admin:sales_journey_record", args=[prospect.pk])
    client.force_login(staff(CUSTOMER_SERVICE))
    assert "Record a journey event" in client.get(reverse("admin:members_member_change", args=[prospect.pk])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"kind": "test_drive_booked", "dealer": dealer.pk, "channel": "dealer", "model": "EC6"})
    assert done.status_code == 302
    assert ActivityEvent.objects.get(member=prospect, kind="test_drive_booked").properties == {"dealer": "CD001", "model": "EC6"}
    bad = client.post(
        url,
        {
            "kind": "delivered",
            "dealer": dealer.pk,
            "channel": "dealer",
            "model": "EC6",
            "product_kind": kind.pk,
            "vin": "1M8GDM9A1KP042788",
        },
    )
    assert bad.status_code == 200 and "position 9" in bad.content.decode()
    good = client.post(
        url, {"kind": "delivered", "dealer": dealer.pk, "channel": "dealer", "model": "EC6", "product_kind": kind.pk, "vin": valid_vin(7)}
    )
    assert good.status_code == 302 and OwnedProduct.objects.get().owner == prospect


def test_an_analyst_cannot_record_journey_events(client, staff):
    member = MemberFactory()
    client.force_login(staff(ANALYST))
    response = client.post(reverse("admin:sales_journey_record", args=[member.pk]), {"kind": "renewal", "channel": "dealer"})
    assert response.status_code == 403


def test_staff_enrol_the_prospect_of_a_lead(client, staff):
    lead = LeadFactory(member=MemberFactory(status=MemberStatus.PROSPECT, initial_tier=None))
    url = reverse("admin:sales_lead_enrol", args=[lead.pk])
    client.force_login(staff(ANALYST))
    assert client.post(url).status_code == 403
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.post(url).status_code == 302
    lead.member.refresh_from_db()
    assert lead.member.status == MemberStatus.ACTIVE
    assert "already enrolled" in client.get(url).content.decode()


def test_an_upload_with_a_cell_too_large_for_csv_is_a_form_error_and_stores_nothing(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    body = "U1,张三,13800138000,,dealer,ES6,\nU2," + "名" * 200_000 + ",13900139000,,dealer,,\n"
    response = client.post(reverse("admin:sales_lead_upload_file"), {"file": csv_file(body)})
    assert response.status_code == 200
    assert "The CSV file cannot be read" in response.content.decode()
    assert not Lead.objects.exists() and not Member.objects.exists()
