import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.bulk_insert import allocate_ids, insert_rows
from apps.members.models import Member, MemberStatus, SourceChannel
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def member_row(member_id: int, phone: str) -> dict:
    now = timezone.now()
    return {"id": member_id, "name": "王芳", "phone": phone, "tier_id": tier("basic").pk, "created_at": now, "updated_at": now}


def test_allocated_keys_are_never_handed_out_again():
    reserved = allocate_ids(Member, 3)
    assert len(set(reserved)) == 3 and allocate_ids(Member, 0) == []
    assert MemberFactory().pk not in reserved


def test_rows_take_the_model_defaults_for_what_they_leave_out():
    (member_id,) = allocate_ids(Member, 1)
    insert_rows(Member, [member_row(member_id, "+8613800138000")])
    member = Member.objects.get(pk=member_id)
    assert (member.status, member.source_channel, member.growth_value, member.email) == (
        MemberStatus.ACTIVE,
        Member._meta.get_field("source_channel").get_default(),
        0,
        "",
    )
    assert member.source_channel in SourceChannel.values


def test_a_row_that_breaks_a_constraint_writes_nothing():
    existing = MemberFactory()
    first, second = allocate_ids(Member, 2)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Member, [member_row(first, "+8613900139000"), member_row(second, existing.phone)])
    assert not Member.objects.filter(pk__in=[first, second]).exists()
