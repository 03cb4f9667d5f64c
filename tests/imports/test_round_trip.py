"""The product's own member export imported again: every row unchanged, nothing in the database changed."""

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from apps.core.spreadsheet import neutralise_cell, unescape_csv_cell
from apps.imports import services
from apps.imports.parsing import map_headers
from apps.members.exports import EXPORT_HEADERS
from apps.members.models import Member, PointsEntry, TierChange
from tests.imports.files import write_csv
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

TRICKY_NAMES = ['=HYPERLINK("http://x.example","click")', "+1 formula", "-minus", "@at", "'quoted", "''=double", "plain 张伟"]


def programme():
    members = [
        MemberFactory(name=name, phone=f"+86138001380{index:02d}", external_id=f"CRM{index}" if index % 2 else None, city="上海")
        for index, name in enumerate(TRICKY_NAMES)
    ]
    Member.objects.filter(pk=members[0].pk).update(gender="female", birthday=dt.date(1990, 5, 8))
    return members


def database_state():
    members = list(Member.objects.order_by("pk").values())
    return members, PointsEntry.objects.count(), TierChange.objects.count(), Member.history.count()


def export(client, file_format):
    ids = list(Member.objects.values_list("pk", flat=True))
    response = client.post(reverse("admin:members_member_changelist"), {"action": f"export_{file_format}", "_selected_action": ids})
    assert response.status_code == 200, response.content[:500]
    return response.content


def first_header(path):
    if path.suffix == ".xlsx":
        return load_workbook(path).worksheets[0]["A1"].value
    return path.read_text(encoding="utf-8-sig").split(",", 1)[0]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_an_export_imported_again_changes_nothing(client, staff, tmp_path, language, file_format):
    programme()
    client.force_login(staff(is_superuser=True))
    before = database_state()
    with translation.override(language):
        client.cookies["django_language"] = language
        content = export(client, file_format)
    path = tmp_path / f"members.{file_format}"
    path.write_bytes(content)
    assert first_header(path) == ("外部编号" if language == "zh-hans" else "External ID")

    summary = services.import_file(path=path)

    assert (summary.total, summary.unchanged, summary.created, summary.updated, summary.invalid) == (len(TRICKY_NAMES),) * 2 + (0, 0, 0)
    assert summary.errors == [] and summary.unknown_columns == []
    assert database_state() == before


def test_xlsx_cells_are_text_without_an_apostrophe_and_csv_cells_carry_the_documented_one(client, staff, tmp_path):
    member = MemberFactory(name="=1+2", phone="+8613800138000")
    client.force_login(staff(is_superuser=True))
    (tmp_path / "m.xlsx").write_bytes(export(client, "xlsx"))
    sheet = load_workbook(tmp_path / "m.xlsx").worksheets[0]
    header = [cell.value for cell in sheet[1]]
    row = {header[index]: cell for index, cell in enumerate(sheet[2])}
    assert (row["Name"].value, row["Name"].data_type) == ("=1+2", "s")
    assert (row["Mobile phone"].value, row["Mobile phone"].data_type) == ("+8613800138000", "s")
    assert row["Joined at"].value == timezone.localtime(member.joined_at).strftime("%Y-%m-%d %H:%M:%S")

    rows = list(csv.reader(io.StringIO(export(client, "csv").decode("utf-8-sig"))))
    exported = dict(zip(rows[0], rows[1], strict=True))
    assert (exported["Name"], exported["Mobile phone"]) == ("'=1+2", "'+8613800138000")


@pytest.mark.parametrize("value", [*TRICKY_NAMES, "", "'", "a'b", "\tx", "\r", "'\t"])
def test_the_importer_undoes_exactly_what_the_csv_exporter_added(value):
    assert unescape_csv_cell(neutralise_cell(value)) == value


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_export_header_is_read_by_the_importer_as_its_own_field(language):
    headers = [header for _field, header in EXPORT_HEADERS[language]]
    mapping, unknown = map_headers(headers)
    imported = {field for field, _header in EXPORT_HEADERS[language]} - {"status", "system_id"}
    assert unknown == [] and set(mapping.values()) == imported


def test_a_files_id_column_is_never_read_as_the_external_id(tmp_path):
    member = MemberFactory(name="Ann", phone="+8613800138000", external_id="CRM-7")
    path = write_csv(tmp_path / "old-export.csv", [["ID", "name", "phone"], [member.pk, "Ann", "+8613800138000"]])
    summary = services.import_file(path=path)
    assert (summary.unchanged, summary.unknown_columns) == (1, ["ID"])
    member.refresh_from_db()
    assert member.external_id == "CRM-7"


@pytest.mark.parametrize(
    ("header", "field_value"),
    [("joined_on", "2024-03-05"), ("join_date", "2024/3/5"), ("入会日期", "2024年3月5日"), ("注册时间", "2024-03-05 09:30:00")],
)
def test_the_usual_spellings_of_the_join_date_are_read(tmp_path, header, field_value):
    path = write_csv(tmp_path / "m.csv", [["name", "phone", header], ["Ann", "13800138000", field_value]])
    summary = services.import_file(path=path)
    assert summary.created == 1 and summary.unknown_columns == []
    assert timezone.localtime(Member.objects.get().joined_at).date() == dt.date(2024, 3, 5)


def test_unknown_columns_are_named_in_the_preview_the_command_and_the_report(client, staff, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.core.roles import OPERATIONS_MANAGER
    from apps.imports.models import ImportJob

    rows = [["姓名", "手机号", "微信号", "joined on date"], ["张伟", "13800138000", "zw1990", "2024-02-30"]]
    path = write_csv(tmp_path / "m.csv", rows)
    out, err = io.StringIO(), io.StringIO()
    call_command("import_members", str(path), "--dry-run", stdout=out, stderr=err)
    assert "'微信号' is unknown" in out.getvalue() and "'joined on date' is unknown" in out.getvalue()

    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.post(
        reverse("admin:imports_importjob_add"), {"file": SimpleUploadedFile("m.csv", path.read_bytes(), content_type="text/csv")}
    ).content.decode()
    assert "These columns are unknown and will not be imported:" in page and "微信号" in page and "joined on date" in page
    job = ImportJob.objects.get()
    client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]))
    job_page = client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert "微信号" in job_page
    report = b"".join(client.get(reverse("admin:imports_importjob_report", args=[job.pk])).streaming_content).decode("utf-8-sig")
    assert "1,微信号,unknown column: its values are not imported" in report
