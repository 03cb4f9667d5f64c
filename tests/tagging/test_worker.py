"""A tag job and an attribute file run by a real Celery worker on the bulk queue; the beat job keeps auto-tags in step.

Runs in the worker pass of ``make test`` (CELERY_BROKER_URL on Redis), one module per process.
"""

import pytest
from django.db import transaction

from apps.members.models import Tag, TagChange
from apps.tagging import services
from apps.tagging.models import AttributeImport, AutoTagRule, TagJob, TagJobStatus
from tests.campaigns.factories import SegmentFactory
from tests.conftest import wait_for
from tests.members.factories import MemberFactory, TagFactory
from tests.tagging.factories import number_attribute

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True), pytest.mark.worker_queues("bulk")]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker process reads this at start-up: several chunks per job."""
    monkeypatch.setenv("USEROPS_TAGGING_CHUNK_SIZE", "7")


def test_the_bulk_worker_runs_a_segment_tag_job_to_the_end(small_chunks, celery_worker_process):
    members = [MemberFactory(city="杭州") for _ in range(30)]
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "city", "value": ["杭州"]}]})
    with transaction.atomic():
        job = services.tag_job_create(tag_name="杭州车主", segment=segment)
    wait_for(lambda: TagJob.objects.get(pk=job.pk).status == TagJobStatus.DONE, timeout=90, what="the tag job")
    job = TagJob.objects.get(pk=job.pk)
    assert (job.total, job.done, job.changed) == (30, 30, 30)
    assert Tag.objects.get(name="杭州车主").members.count() == len(members)
    assert TagChange.objects.filter(reference=f"job {job.pk}").count() == 30


def test_the_bulk_worker_applies_an_attribute_file_and_keeps_auto_tags_in_step(small_chunks, celery_worker_process):
    from config.celery import app

    number_attribute()
    MemberFactory(external_id="E1")
    with transaction.atomic():
        upload = services.attribute_import_create(name="a.csv", data=b"external_id,family_size\nE1,4\nE2,3\n")
    wait_for(lambda: AttributeImport.objects.get(pk=upload.pk).status == TagJobStatus.DONE, timeout=90, what="the attribute file")
    assert AttributeImport.objects.get(pk=upload.pk).error_count == 1
    segment = SegmentFactory(rules={"field": "attribute", "operator": "gte", "value": {"code": "family_size", "value": 4}})
    AutoTagRule.objects.create(name="Families", tag=TagFactory(name="家庭用户"), segment=segment)
    app.send_task("tagging.sync_auto_tags")
    wait_for(lambda: Tag.objects.get(name="家庭用户").members.count() == 1, timeout=90, what="the auto-tag rule")
