"""The demo's first member gets a customer profile with a timeline long enough to page, and a staff change on it."""

import random

import pytest

from apps.members import selectors
from apps.members.models import Member
from apps.members.timeline import TIMELINE_SOURCES
from fixtures import demo_profile
from tests.core.factories import ApiClientFactory, UserFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_showcase_member_has_a_long_timeline_once():
    member = MemberFactory()
    ApiClientFactory()
    UserFactory(username="service")
    demo_profile.load(random.Random(2026))
    demo_profile.load(random.Random(2026))
    assert Member.objects.count() == 1
    assert member.history.filter(history_user__username="service").count() == 1
    page = selectors.member_timeline(member=member, sources=TIMELINE_SOURCES, limit=100)
    sources = {item.source for item in page.items}
    assert {"activities", "staff_changes", "tiers"} <= sources
    assert page.older is not None
