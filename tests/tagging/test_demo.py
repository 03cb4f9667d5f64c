"""The demo's tagging part: attributes with values, an auto-tag rule that has run, a finished tag job."""

import random

import pytest

from apps.members.models import Tag
from apps.tagging.models import Attribute, AttributeValue, AutoTagRule, TagJob, TagJobStatus
from fixtures import demo, demo_tagging
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_demo_attributes_auto_tag_rule_and_finished_job():
    demo._staff()
    for _ in range(12):
        MemberFactory()
    demo_tagging.load(random.Random(3))
    assert list(Attribute.objects.values_list("label", flat=True)) == ["意向车型", "家庭人数", "驾照日期"]
    assert AttributeValue.objects.filter(attribute__code="family_size").count() == 12
    assert AutoTagRule.objects.get(name="新车主").synced_at is not None
    job = TagJob.objects.get()
    assert job.status == TagJobStatus.DONE
    assert Tag.objects.get(name="家庭用户").members.count() == job.changed
    demo_tagging.load(random.Random(3))  # a second load adds nothing
    assert TagJob.objects.count() == 1


def test_each_demo_load_starts_from_unsaved_attributes():
    """A load saves its attributes; the next load (in a fresh database) must not inherit their ids."""
    demo_tagging.load(random.Random(3))
    assert all(attribute.pk is None for attribute in demo_tagging._attributes())
