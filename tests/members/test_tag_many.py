"""The members' set-based tag service the journeys' tag step uses."""

import pytest

from apps.core.errors import ApplicationError
from apps.members.models import MemberStatus
from apps.members.services import members_tag_many
from tests.members.factories import MemberFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_tags_many_members_once_and_leaves_closed_members_out():
    tagged, untagged, closed = MemberFactory.create_batch(3)
    tagged.tags.add(TagFactory(name="试驾"))
    closed.status = MemberStatus.CLOSED
    closed.save()

    assert members_tag_many(member_ids=[tagged.pk, untagged.pk, closed.pk, 10**9], tag_name=" 试驾 ") == 1
    assert {m.pk for m in TagFactory(name="试驾").members.all()} == {tagged.pk, untagged.pk}
    with pytest.raises(ApplicationError) as refused:
        members_tag_many(member_ids=[tagged.pk], tag_name="  ")
    assert refused.value.fields == {"tag": ""}
