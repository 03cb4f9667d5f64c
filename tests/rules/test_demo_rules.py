"""The demo programme's earning rules, and a year of behaviour that earned through them."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.members.models import PointsEntry
from apps.members.selectors import points_discrepancies
from apps.rules.models import EarningRule, RuleAward, RuleStatus
from fixtures.demo_rules import load_rules
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_demo_rules_and_their_awards():
    MemberFactory.create_batch(12, joined_at=timezone.now() - timedelta(days=400))
    load_rules(random.Random(7))
    assert EarningRule.objects.filter(status=RuleStatus.ACTIVE).count() == 8
    assert EarningRule.objects.filter(status=RuleStatus.DRAFT).count() == 1
    kinds = set(RuleAward.objects.values_list("kind", flat=True))
    assert {"sign_in", "community_post"} <= kinds
    assert PointsEntry.objects.filter(source_ref__startswith="rule:").count() == RuleAward.objects.filter(points__gt=0).count()
    assert not list(points_discrepancies())
    load_rules(random.Random(7))  # a second load adds nothing
    assert EarningRule.objects.count() == 9
