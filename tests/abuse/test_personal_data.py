"""A member's blocklist entries are in their PIPL export; anonymisation scrubs their identifiers from reasons."""

import pytest

from apps.abuse import services
from apps.abuse.models import BlockEntry, BlockKind
from apps.members.services.privacy import member_anonymise, member_data_export
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_blocklist_entries_are_exported_and_reasons_scrubbed_on_anonymisation():
    member = MemberFactory(name="Zhang Wei", phone="+8613900139000")
    services.block_add(kind=BlockKind.MEMBER, member=member, reason="Zhang Wei farmed sign-in points")
    services.block_add(kind=BlockKind.DEVICE, device_id="d-1", reason="device shared with 13900139000")
    exported = member_data_export(member=member)
    assert [entry["reason"] for entry in exported["blocklist"]] == ["Zhang Wei farmed sign-in points"]
    member_anonymise(member=member, reason="PIPL deletion request")
    reasons = set(BlockEntry.objects.values_list("reason", flat=True))
    assert not any("Zhang Wei" in reason or "13900139000" in reason for reason in reasons)
