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


def test_times_dates_and_json_values_are_written_as_given_however_many_rows_share_them(monkeypatch):
    from datetime import date, timedelta

    from apps.core import bulk_insert
    from apps.members.models import TierChange, TierChangeKind

    monkeypatch.setattr(bulk_insert, "_TEXT_CACHE_SIZE", 2)  # the cache is emptied and refilled along the way
    member = MemberFactory()
    shared_time, shared_params = timezone.now(), {"tier": {"en": 'Gold\t"VIP"\\', "zh-hans": "金卡\n会员"}}
    rows = [
        {
            "member_id": member.pk,
            "kind": TierChangeKind.INITIAL,
            "to_tier_id": tier("basic").pk,
            "growth_value": n,
            "reason": "",
            "reason_code": "imported",
            "reason_params": shared_params if n % 2 else {"n": n},
            "created_at": shared_time if n % 3 else shared_time - timedelta(days=n, microseconds=n),
        }
        for n in range(7)
    ]
    insert_rows(TierChange, rows)
    written = list(
        TierChange.objects.filter(member=member, reason_code="imported").order_by("growth_value").values("reason_params", "created_at")
    )
    assert written == [{"reason_params": row["reason_params"], "created_at": row["created_at"]} for row in rows]
    (member_id,) = allocate_ids(Member, 1)
    insert_rows(Member, [{**member_row(member_id, "+8613800138999"), "birthday": date(1990, 5, 8)}])
    assert Member.objects.get(pk=member_id).birthday == date(1990, 5, 8)


def test_any_of_finds_the_same_rows_as_in():
    members = MemberFactory.create_batch(3)
    wanted = [members[0].pk, members[2].pk, 0]
    assert set(Member.objects.filter(pk__any_of=wanted)) == set(Member.objects.filter(pk__in=wanted)) == {members[0], members[2]}
    assert set(Member.objects.filter(pk__any_of={members[1].pk})) == {members[1]}
    assert not Member.objects.filter(pk__any_of=[]).exists()
