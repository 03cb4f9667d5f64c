"""Uploaded customer files do not outlive their use: deletable on request, purged after the retention, no orphans."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.roles import ANALYST, OPERATIONS_MANAGER
from apps.imports import services
from apps.imports.models import ImportJob, ImportStatus
from tests.imports.files import CHINESE_HEADER, write_csv
from tests.imports.test_import import GOOD

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media: Path) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def upload_good(client, tmp_path) -> ImportJob:
    path = write_csv(tmp_path / "members.csv", [CHINESE_HEADER, *GOOD, ["X", "", "", "", "", "", "", "", "", ""]])
    with path.open("rb") as handle:
        assert client.post(reverse("admin:imports_importjob_add"), {"file": handle}).status_code == 200
    job = ImportJob.objects.get()
    client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.file and job.report
    return job


def test_a_malformed_upload_is_a_form_error_and_leaves_no_file_and_no_job(client, staff, media):
    client.force_login(staff(OPERATIONS_MANAGER))
    broken = SimpleUploadedFile("members.xlsx", b"PK\x03\x04 not a workbook 13987654321")
    response = client.post(reverse("admin:imports_importjob_add"), {"file": broken})
    assert response.status_code == 200
    assert "The file is not a readable Excel workbook" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert stored_files(media) == []


def test_staff_who_import_delete_a_job_with_its_file_and_report(client, staff, media, tmp_path):
    client.force_login(staff(OPERATIONS_MANAGER))
    job = upload_good(client, tmp_path)
    assert len(stored_files(media)) == 2
    delete_url = reverse("admin:imports_importjob_delete", args=[job.pk])
    client.force_login(staff(ANALYST))
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    client.force_login(staff(OPERATIONS_MANAGER))
    job_page = client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert f'href="{delete_url}"' in job_page
    assert client.get(delete_url).status_code == 200
    assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not ImportJob.objects.exists()
    assert stored_files(media) == []


def test_a_running_import_cannot_be_deleted(media):
    job = services.import_job_create(
        upload=SimpleUploadedFile("m.csv", ",".join(CHINESE_HEADER).encode()), all_or_nothing=False, actor=None
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    with pytest.raises(ApplicationError) as refused:
        services.import_job_delete(job=job)
    assert refused.value.code == "import_running"
    assert len(stored_files(media)) == 1


def test_files_are_purged_after_the_retention_and_orphans_swept(client, staff, media, tmp_path, settings):
    client.force_login(staff(OPERATIONS_MANAGER))
    job = upload_good(client, tmp_path)
    orphan = media / "imports" / "left-behind.csv"
    orphan.write_text("name,phone\n王芳,13800138000\n")
    settings.USEROPS_IMPORTS = {**settings.USEROPS_IMPORTS, "FILE_RETENTION_DAYS": 30}

    assert services.import_files_purge(now=timezone.now() + timedelta(days=29)) == 0
    assert len(stored_files(media)) == 3

    old = (timezone.now() - timedelta(days=31)).timestamp()
    os.utime(orphan, (old, old))
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert services.import_files_purge() == 3
    assert stored_files(media) == []
    job.refresh_from_db()
    assert (job.file.name, job.report.name, job.status, job.created) == ("", "", ImportStatus.DONE, 4)
    assert client.get(reverse("admin:imports_importjob_change", args=[job.pk])).status_code == 200


def test_purge_runs_as_a_periodic_task(settings):
    assert settings.USEROPS_PERIODIC_TASKS["Purge old import files"]["task"] == "imports.purge_files"
    from apps.imports.tasks import purge_files

    assert purge_files.name == "imports.purge_files"
