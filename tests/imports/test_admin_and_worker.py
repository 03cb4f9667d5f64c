import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.roles import ANALYST, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.imports import services
from apps.imports.models import ImportJob, ImportStatus
from apps.members.models import Member
from tests.conftest import wait_for
from tests.imports.files import CHINESE_HEADER, write_csv
from tests.imports.test_import import GOOD
from tests.members.factories import MemberFactory


def upload(tmp_path, rows, name="members.csv"):
    return SimpleUploadedFile(name, write_csv(tmp_path / name, rows).read_bytes(), content_type="text/csv")


@pytest.mark.django_db
def test_small_file_preview_then_confirm(client, staff, tmp_path):
    client.force_login(staff(OPERATIONS_MANAGER))
    response = client.post(
        reverse("admin:imports_importjob_add"),
        {"file": upload(tmp_path, [CHINESE_HEADER, *GOOD, ["X", "", "", "", "", "", "", "", "", ""]])},
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Would be created" in page and "missing name" in page
    assert not Member.objects.exists()
    job = ImportJob.objects.get()
    done = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]), follow=True)
    assert "Import finished: 4 created" in done.content.decode()
    job.refresh_from_db()
    assert (job.status, job.created, job.invalid) == (ImportStatus.DONE, 4, 1)
    report = client.get(reverse("admin:imports_importjob_report", args=[job.pk]))
    assert b"missing name" in b"".join(report.streaming_content)


@pytest.mark.django_db
def test_import_needs_its_own_permission_and_templates_download(client, staff, tmp_path):
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.get(reverse("admin:imports_importjob_add")).status_code == 403
    client.force_login(staff(OPERATIONS_MANAGER))
    template = client.get(reverse("admin:imports_importjob_template", args=["zh-hans"])).content.decode("utf-8-sig")
    assert template.startswith("外部编号,姓名,手机号")
    assert client.post(reverse("admin:imports_importjob_add"), {"file": SimpleUploadedFile("x.pdf", b"%PDF")}).status_code == 200
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_member_export_is_formula_safe_masked_and_needs_permission(client, staff):
    MemberFactory(name="=1+2", phone="+8613800001234", email="a@example.com")
    url = reverse("admin:members_member_changelist")
    ids = list(Member.objects.values_list("pk", flat=True))
    client.force_login(staff(CUSTOMER_SERVICE))
    refused = client.post(url, {"action": "export_csv", "_selected_action": ids})
    assert refused.status_code in (200, 302) and refused.get("Content-Type", "").startswith("text/html")
    client.force_login(staff(ANALYST))
    exported = client.post(url, {"action": "export_csv", "_selected_action": ids}).content.decode("utf-8-sig")
    assert "'=1+2" in exported and "+86138****1234" in exported and "a***@example.com" in exported
    xlsx = client.post(url, {"action": "export_xlsx", "_selected_action": ids})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


@pytest.mark.celery_worker
def test_large_file_runs_in_a_real_worker_with_progress(celery_worker_process, tmp_path, staff, monkeypatch):
    rows = [CHINESE_HEADER] + [[f"BIG{i}", f"Member {i}", f"+86138{i:08d}", "", "上海", "", "", "10", "", ""] for i in range(12_000)]
    job = services.import_job_create(upload=upload(tmp_path, rows, "big.csv"), all_or_nothing=False, actor=staff(OPERATIONS_MANAGER))
    assert job.total_rows == services.background_threshold_rows() + 1, "the request stops counting past the threshold"
    services.import_job_queue(job=job)
    wait_for(lambda: ImportJob.objects.get(pk=job.pk).status == ImportStatus.DONE, timeout=120, what="the import job")
    job.refresh_from_db()
    assert (job.created, job.total_rows, job.processed_rows, job.progress_percent) == (12_000, 12_000, 12_000, 100)
    assert Member.objects.count() == 12_000
