"""The demo's abuse control: its limits and blocks are in place and its scripted hour shows on the suspicious page."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.abuse import selectors
from apps.abuse.models import BlockEntry, VelocityLimit
from apps.analytics.models import ActivityEvent
from apps.rules.models import AwardStatus, RuleAward
from fixtures.demo_abuse import load_abuse_demo
from fixtures.demo_rules import load_rules
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_demo_limits_blocks_and_suspicious_activity():
    for _ in range(6):
        MemberFactory()
    load_abuse_demo()
    assert VelocityLimit.objects.filter(active=True).count() == 3
    assert set(BlockEntry.objects.values_list("kind", flat=True)) == {"device", "address"}
    rows = {(row.limit_name, row.value): row for row in selectors.suspicious_values(period="hour")}
    farm = rows[("Sign-ins per device", "emu-farm-01")]
    assert farm.over and farm.peak > 20
    assert any(name == "Community posts per member" and row.over for (name, _value), row in rows.items())
    load_abuse_demo()  # a second load adds nothing
    assert VelocityLimit.objects.count() == 3 and BlockEntry.objects.count() == 2


def test_the_demo_review_queue_starts_with_the_awards_its_abuse_earned():
    """Loaded after the earning rules, the scripted farm passes the rules' own caps (one sign-in a day per account), so
    the device's limit and the blocklist are what hold its awards: the review queue is not empty."""
    MemberFactory.create_batch(4, joined_at=timezone.now() - timedelta(days=400))
    load_rules(random.Random(7))
    MemberFactory.create_batch(30)  # accounts that have not signed in today
    load_abuse_demo()
    held = list(RuleAward.objects.filter(status=AwardStatus.HELD).values_list("hold_reasons", flat=True))
    reasons = [reason for reasons in held for reason in reasons]
    assert sum("device emu-farm-01: " in reason and "limit 20" in reason for reason in reasons) == 6  # the 21st to 26th
    assert sum(reason.startswith("blocked device emu-farm-00") for reason in reasons) == 3
    farm = ActivityEvent.objects.filter(device_id="emu-farm-01").values("pk")
    assert RuleAward.objects.filter(activity_id__in=farm, status=AwardStatus.PAID).count() == 20
