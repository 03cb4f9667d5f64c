"""A large customer file goes to a real Celery worker; staff watch its progress page to the end.

Runs in the worker pass of ``make test`` (CELERY_BROKER_URL on Redis), one module per process.
"""

import pytest

from apps.core.roles import OPERATIONS_MANAGER
from apps.imports.models import ImportJob, ImportStatus
from apps.members.models import Member
from tests.imports.files import CHINESE_HEADER, write_csv

pytestmark = [pytest.mark.e2e, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROWS = 1_200


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker process reads this at start-up: many chunks, so the job's progress moves in steps."""
    monkeypatch.setenv("USEROPS_IMPORT_CHUNK_SIZE", "100")


@pytest.fixture
def low_threshold(settings: object) -> None:
    """The web process (the live server) sends files over 200 rows to the background."""
    settings.USEROPS_IMPORTS = {**settings.USEROPS_IMPORTS, "BACKGROUND_THRESHOLD_ROWS": 200}


def test_large_file_is_imported_by_the_worker_while_staff_watch_the_progress_page(
    small_chunks, low_threshold, celery_worker_process, page, login_as, screenshot, tmp_path
):
    rows = [CHINESE_HEADER] + [[f"BG{i}", f"会员{i}", f"+86139{i:08d}", "", "上海", "", "", "10", "", ""] for i in range(ROWS)]
    rows.append(["BAD1", "", "+8613999999999", "", "", "", "", "", "", ""])  # one invalid row, reported, not imported
    login_as(OPERATIONS_MANAGER)
    page.goto("/admin/imports/importjob/")
    page.locator("a[href$='/importjob/add/']").first.click()
    page.set_input_files("input[name=file]", str(write_csv(tmp_path / "crm-full-export.csv", rows)))
    page.get_by_role("button", name="Upload and check").click()
    page.get_by_text("The file has more than 200 rows: it is imported in the background.").wait_for()
    job_page = page.get_by_test_id("import-job")
    job_page.wait_for()

    # The page refreshes itself every two seconds while the job is queued or running; wait for the end.
    job_page.get_by_text("Done", exact=False).wait_for(timeout=120_000)
    progress = page.get_by_test_id("import-progress")
    assert progress.inner_text() == f"{ROWS + 1:,} / {ROWS + 1:,} (100%)"  # grouped by thousands, as every count
    assert job_page.locator("tr", has_text="Created").locator("td").inner_text() == f"{ROWS:,}"
    assert job_page.locator("tr", has_text="Invalid rows").locator("td").inner_text() == "1"
    page.get_by_role("link", name="Download the error report (CSV)").wait_for()
    screenshot("import-background-done")
    job = ImportJob.objects.get()
    assert (job.status, job.created, job.invalid, job.progress_percent) == (ImportStatus.DONE, ROWS, 1, 100)
    assert Member.objects.filter(external_id__startswith="BG").count() == ROWS
