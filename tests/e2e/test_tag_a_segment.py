"""Tag a segment: a campaign manager starts a tag job in the back office and watches a real worker finish it.

Runs in the worker pass of ``make test`` (CELERY_BROKER_URL on Redis), one module per process.
"""

import pytest

from apps.core.roles import CAMPAIGN_MANAGER
from apps.members.models import Tag
from apps.tagging.models import TagJob, TagJobStatus
from tests.campaigns.factories import SegmentFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

MEMBERS = 60


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USEROPS_TAGGING_CHUNK_SIZE", "10")


def test_a_campaign_manager_tags_a_segment_and_watches_the_job_finish(small_chunks, celery_worker_process, page, login_as, screenshot):
    for _ in range(MEMBERS):
        MemberFactory(city="杭州")
    MemberFactory(city="上海")
    SegmentFactory(name="杭州会员", rules={"op": "and", "conditions": [{"field": "city", "value": ["杭州"]}]})
    login_as(CAMPAIGN_MANAGER)
    page.goto("/admin/tagging/tagjob/add/")
    page.fill("input[name=tag]", "杭州车主")
    page.select_option("select[name=segment]", label="杭州会员")
    page.get_by_role("button", name="Start the job").click()
    page.get_by_text("The tag job was queued: this page shows its progress.").wait_for()
    job_page = page.get_by_test_id("tag-job")
    # The page refreshes itself every two seconds while the job is queued or running.
    page.get_by_test_id("tag-job-status").get_by_text("Done").wait_for(timeout=120_000)
    assert page.get_by_test_id("tag-job-progress").inner_text() == f"{MEMBERS} / {MEMBERS} (100%)"
    assert job_page.get_by_test_id("tag-job-changed").inner_text() == str(MEMBERS)
    screenshot("tag-job-done")
    job = TagJob.objects.get()
    assert (job.status, job.done, job.changed) == (TagJobStatus.DONE, MEMBERS, MEMBERS)
    assert Tag.objects.get(name="杭州车主").members.count() == MEMBERS
