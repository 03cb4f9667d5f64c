"""Uploaded workbooks are inspected with bounded work before parsing; damaged files get a clear message, never a 500;
the request counts no further than the background threshold and the job counts the rest."""

import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.benefits.models import Benefit
from apps.core.errors import ApplicationError
from apps.core.roles import OPERATIONS_MANAGER
from apps.core.spreadsheet import xlsx_upload_check
from apps.imports import services
from apps.imports.models import ImportJob, ImportStatus
from apps.members.models import Member
from tests.imports.files import ENGLISH_HEADER, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


def member_rows(count: int) -> list[list[object]]:
    return [ENGLISH_HEADER] + [[f"EXT{i}", f"Member {i}", f"+86138{i:08d}", "", "上海", "", "", "", "", ""] for i in range(count)]


def workbook_with_extra_part(path: Path, *, part_bytes: int = 0, extra_parts: int = 0) -> Path:
    """A real workbook plus padding: one highly compressible part of ``part_bytes``, or many tiny parts."""
    write_xlsx(path, member_rows(2))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        if part_bytes:
            archive.writestr("xl/media/padding.xml", b"<a/>" * (part_bytes // 4))
        for index in range(extra_parts):
            archive.writestr(f"xl/media/part{index}.xml", b"<a/>")
    return path


def as_upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda path: workbook_with_extra_part(path, part_bytes=80 << 20), "Unpacked, the workbook holds 80 MB; at most 64 MB"),
        (lambda path: workbook_with_extra_part(path, part_bytes=8 << 20), "compressed more than 100 times"),
        (lambda path: workbook_with_extra_part(path, extra_parts=300), "at most 200 are accepted"),
        (lambda path: path.write_bytes(b"PK\x03\x04 this is not a zip") and path, "not a readable Excel workbook"),
    ],
    ids=["unpacked-size", "compression-ratio", "parts", "not-a-zip"],
)
def test_workbooks_beyond_the_bounds_are_refused_before_parsing(tmp_path, build, message):
    path = build(tmp_path / "members.xlsx")
    with pytest.raises(ApplicationError) as refused, path.open("rb") as handle:
        xlsx_upload_check(handle, name=path.name)
    assert message in refused.value.message


def test_a_normal_workbook_passes_the_check(tmp_path):
    path = write_xlsx(tmp_path / "members.xlsx", member_rows(50))
    with path.open("rb") as handle:
        xlsx_upload_check(handle, name=path.name)
        assert handle.tell() == 0


def damaged_workbook(path: Path) -> Path:
    """A zip with a workbook part that is not XML: passes the size checks, fails in the parser."""
    write_xlsx(path, member_rows(2))
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row"
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda path: workbook_with_extra_part(path, part_bytes=80 << 20), "Unpacked, the workbook holds 80 MB"),
        (lambda path: path.write_bytes(b"garbage") and path, "not a readable Excel workbook"),
        (damaged_workbook, "not a readable Excel workbook"),
    ],
    ids=["too-large", "not-a-zip", "damaged-sheet"],
)
def test_member_import_answers_a_clear_message_not_a_500(client, staff, tmp_path, build, message):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(reverse("admin:imports_importjob_add"), {"file": as_upload(build(tmp_path / "members.xlsx"))})
    assert response.status_code == 200 and message in response.content.decode()
    assert not ImportJob.objects.exists() or not ImportJob.objects.filter(status=ImportStatus.DONE).exists()
    assert not Member.objects.exists()


def test_the_command_line_import_reports_a_damaged_workbook(tmp_path):
    with pytest.raises(CommandError, match="not a readable Excel workbook"):
        call_command("import_members", str(damaged_workbook(tmp_path / "members.xlsx")))


def test_a_large_file_is_counted_by_its_job_not_by_the_request(client, staff, tmp_path, settings):
    settings.USEROPS_IMPORTS = {**settings.USEROPS_IMPORTS, "BACKGROUND_THRESHOLD_ROWS": 5}
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(reverse("admin:imports_importjob_add"), {"file": as_upload(write_csv(tmp_path / "big.csv", member_rows(40)))})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.status, job.total_rows) == (ImportStatus.QUEUED, 6), "the request read no further than threshold + 1 rows"
    messages = [str(message) for message in response.wsgi_request._messages]
    assert "The file has more than 5 rows: it is imported in the background." in messages
    job = services.import_job_run(job_id=job.pk)
    assert (job.status, job.total_rows, job.created) == (ImportStatus.DONE, 40, 40)


def test_count_rows_stops_past_its_limit(tmp_path):
    path = write_csv(tmp_path / "big.csv", member_rows(1000))
    assert services.count_rows(path) == 1000
    assert services.count_rows(path, limit=10) == 11


def catalogue_import(client, path: Path):
    page = client.get(reverse("admin:benefits_benefit_import")).content.decode()
    xlsx_format = re.search(r'<option value="(\d+)"[^>]*>\s*xlsx\s*</option>', page, re.IGNORECASE).group(1)
    return client.post(reverse("admin:benefits_benefit_import"), {"format": xlsx_format, "import_file": as_upload(path), "resource": "0"})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda path: workbook_with_extra_part(path, part_bytes=80 << 20), "Unpacked, the workbook holds 80 MB"),
        (lambda path: path.write_bytes(b"garbage") and path, "not a readable Excel workbook"),
    ],
    ids=["too-large", "not-a-zip"],
)
def test_the_benefit_catalogue_import_refuses_the_same_workbooks(client, staff, tmp_path, build, message):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = catalogue_import(client, build(tmp_path / "catalogue.xlsx"))
    assert response.status_code == 200 and message in response.content.decode()
    assert not Benefit.objects.exists()


def test_a_damaged_catalogue_workbook_is_a_form_error(client, staff, tmp_path):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = catalogue_import(client, damaged_workbook(tmp_path / "catalogue.xlsx"))
    assert response.status_code == 200 and "confirm_form" not in response.context
    assert not Benefit.objects.exists()
