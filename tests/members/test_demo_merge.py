"""The demo programme shows the duplicates finder: one pair for each kind of duplicate."""

import random

import pytest

from apps.members.models import DuplicateCandidate, DuplicateReason
from fixtures import demo_merge

pytestmark = pytest.mark.django_db


def test_the_demo_pairs_are_listed_one_per_reason():
    demo_merge.load(random.Random(2026))
    reasons = set(DuplicateCandidate.objects.values_list("reason", flat=True))
    assert reasons == set(DuplicateReason.values)
