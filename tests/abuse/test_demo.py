"""The demo's abuse control: its limits and blocks are in place and its scripted hour shows on the suspicious page."""

import pytest

from apps.abuse import selectors
from apps.abuse.models import BlockEntry, VelocityLimit
from fixtures.demo_abuse import load_abuse_demo
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
