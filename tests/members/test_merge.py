"""Merging duplicate members: balances reconcile, history stays, conflicts are decided first, refusals change nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import selectors, services
from apps.members.models import (
    AdjustmentState,
    Consent,
    ConsentChannel,
    DuplicateState,
    GrowthEntry,
    Member,
    MemberMerge,
    MemberStatus,
    MemberToken,
    PointsAccount,
    PointsEntry,
    PointsLot,
    TierChange,
)
from apps.members.tier_rules import rolling_growth
from tests.members.factories import DuplicateCandidateFactory, MemberFactory, TagFactory, tier
from tests.members.test_concurrency import assert_books_balance, run_at_once

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(staff):
    return staff(role=CUSTOMER_SERVICE)


def _pair(**merged_fields):
    """Two records of one person; the duplicate holds no phone or external ID of its own unless a test gives it one."""
    survivor = MemberFactory(name="王小明", city="上海", birthday=None, email="")
    merged = MemberFactory(
        **{"name": "王小明", "city": "上海", "birthday": None, "email": "", "phone": None, "external_id": None, **merged_fields}
    )
    return survivor, merged


def _open_lots(member):
    return sorted(PointsLot.objects.filter(account__member=member, remaining__gt=0).values_list("remaining", "expires_at"))


def test_points_move_with_each_open_lot_keeping_its_amount_and_expiry(agent):
    survivor, merged = _pair()
    now = timezone.now()
    services.points_earn(member=survivor, amount=50, reason="Purchase")
    services.points_earn(member=merged, amount=300, reason="Purchase", expires_at=now + timedelta(days=30))
    services.points_earn(member=merged, amount=200, reason="Purchase", expires_at=now + timedelta(days=200))
    services.points_spend(member=merged, amount=100, reason="Points mall")  # takes 100 of the lot expiring first
    before = _open_lots(merged)

    merge = services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices={})

    assert PointsAccount.objects.get(member=survivor).balance == 450
    assert PointsAccount.objects.get(member=merged).balance == 0
    assert [row for row in _open_lots(survivor) if row[0] != 50] == before
    assert merge.moved["ledger"]["points"] == 400
    assert_books_balance(survivor)
    assert_books_balance(merged)


def test_history_stays_with_the_merged_member_and_the_survivor_shows_where_points_came_from(agent):
    survivor, merged = _pair()
    services.points_earn(member=merged, amount=120, reason="Purchase")
    earned = list(PointsEntry.objects.filter(account__member=merged).values_list("pk", flat=True))

    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent)

    assert set(earned) <= set(PointsEntry.objects.filter(account__member=merged).values_list("pk", flat=True))
    incoming = PointsEntry.objects.get(account__member=survivor, source_ref__startswith=f"merge:{merged.pk}:lot:")
    assert incoming.amount == 120
    assert incoming.reason_code == "member_merged_in"
    assert incoming.actor == agent


def test_due_lots_expire_before_the_move_so_only_live_points_move(agent):
    survivor, merged = _pair()
    services.points_earn(member=merged, amount=80, reason="Purchase", expires_at=timezone.now() + timedelta(days=5))
    PointsLot.objects.filter(account__member=merged).update(expires_at=timezone.now() - timedelta(days=1))

    merge = services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent)

    assert merge.moved["ledger"]["points"] == 0
    assert PointsAccount.objects.get(member=survivor).balance == 0
    assert_books_balance(merged)


def test_growth_moves_with_its_dates_and_the_survivor_is_promoted(agent):
    survivor, merged = _pair()
    now = timezone.now()
    services.growth_add(member=survivor, amount=600, reason="Purchase")
    services.growth_add(member=merged, amount=700, reason="Purchase")
    services.growth_add(member=merged, amount=5000, reason="Purchase")
    # An entry from before the rolling window: it moves, keeps its date, and still does not count.
    long_ago = now - timedelta(days=400)
    dated = GrowthEntry.objects.create(member=merged, amount=9000, reason="Legacy", created_at=long_ago)

    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices={"identity.tier": "survivor"})

    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert rolling_growth([survivor.pk], timezone.now())[survivor.pk] == 6300
    assert rolling_growth([merged.pk], timezone.now()).get(merged.pk, 0) == 0
    assert GrowthEntry.objects.get(member=survivor, source_ref=f"merge:{merged.pk}:growth:{dated.pk}").created_at == long_ago
    assert survivor.tier == tier("gold")
    assert TierChange.objects.filter(member=survivor, to_tier=tier("gold")).exists()


def test_the_merged_member_is_closed_points_at_the_survivor_and_its_tokens_stop(agent, member_client):
    survivor, merged = _pair()
    api, _member = member_client(merged)
    assert api.get("/api/v1/me/").status_code == 200

    merge = services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent)

    merged.refresh_from_db()
    assert merged.status == MemberStatus.CLOSED
    assert merged.merged_into == survivor
    assert merged.phone is None and merged.external_id is None
    assert not MemberToken.objects.filter(member=merged, revoked_at__isnull=True).exists()
    assert api.get("/api/v1/me/").status_code == 401
    assert selectors.member_get(pk=merged.pk) == survivor
    assert merge.merged_snapshot["name"] == "王小明" and merge.actor == agent


def test_lookups_of_an_earlier_merged_member_follow_to_the_last_survivor(agent):
    first, second = _pair()
    third = MemberFactory(name="王小明", city="上海", birthday=None, email="", phone=None, external_id=None)
    services.member_merge(survivor_id=second.pk, merged_id=first.pk, actor=agent)
    services.member_merge(survivor_id=third.pk, merged_id=second.pk, actor=agent)
    assert selectors.member_get(pk=first.pk) == third
    assert Member.objects.get(pk=first.pk).merged_into_id == third.pk


def test_conflicting_identity_is_refused_until_each_value_is_chosen(agent):
    survivor = MemberFactory(name="王小明", city="上海", email="a@example.com")
    merged = MemberFactory(name="王晓明", city="北京", email="b@example.com")

    with pytest.raises(ApplicationError) as refused:
        services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices={"identity.name": "merged"})
    assert refused.value.code == "merge_conflicts_undecided"
    assert {"identity.city", "identity.email", "identity.phone"} <= set(refused.value.fields)
    assert "identity.name" not in refused.value.fields
    assert not MemberMerge.objects.exists()
    assert Member.objects.get(pk=merged.pk).merged_into_id is None

    conflicts = services.member_merge_conflicts(survivor=survivor, merged=merged)
    choices = {f"{c.section}.{c.field}": "survivor" for c in conflicts} | {"identity.name": "merged", "identity.phone": "merged"}
    merged_phone = merged.phone
    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices=choices)

    survivor.refresh_from_db()
    assert (survivor.name, survivor.city, survivor.email, survivor.phone) == ("王晓明", "上海", "a@example.com", merged_phone)
    assert MemberMerge.objects.get(merged=merged).choices["identity.name"] == "merged"


def test_a_value_only_the_merged_member_holds_is_kept_without_asking(agent):
    survivor, merged = _pair(birthday=timezone.now().date().replace(year=1990), phone="+8613911112222")
    survivor.phone = None
    survivor.save(update_fields=["phone"])
    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent)
    survivor.refresh_from_db()
    assert survivor.birthday.year == 1990 and survivor.phone == "+8613911112222"


def test_an_invalid_choice_is_refused(agent):
    survivor, merged = _pair(phone="+8613911113333")
    with pytest.raises(ApplicationError) as refused:
        services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices={"identity.phone": "both"})
    assert refused.value.code == "invalid_choice"


def test_choosing_the_merged_members_tier_keeps_its_date(agent):
    survivor, merged = _pair()
    reached = timezone.now() - timedelta(days=100)
    Member.objects.filter(pk=merged.pk).update(tier=tier("gold"), tier_achieved_at=reached)
    services.member_merge(
        survivor_id=survivor.pk,
        merged_id=merged.pk,
        actor=agent,
        choices={"identity.tier": "merged"},
    )
    survivor.refresh_from_db()
    assert survivor.tier == tier("gold") and survivor.tier_achieved_at == reached
    assert TierChange.objects.filter(member=survivor, reason_code="tier_kept_on_merge").exists()


def test_consents_and_tags_combine_with_the_latest_decision_winning(agent):
    survivor, merged = _pair()
    early, late = timezone.now() - timedelta(days=10), timezone.now() - timedelta(days=1)
    Consent.objects.create(member=survivor, channel=ConsentChannel.SMS, granted=True, changed_at=early)
    Consent.objects.create(member=merged, channel=ConsentChannel.SMS, granted=False, changed_at=late)
    Consent.objects.create(member=merged, channel=ConsentChannel.EMAIL, granted=True, changed_at=late)
    merged.tags.add(TagFactory(name="VIP客户"))

    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices=_identity_choices(survivor, merged))

    assert dict(Consent.objects.filter(member=survivor).values_list("channel", "granted")) == {"sms": False, "email": True}
    assert list(survivor.tags.values_list("name", flat=True)) == ["VIP客户"]


def _identity_choices(survivor, merged):
    return {f"{c.section}.{c.field}": "survivor" for c in services.member_merge_conflicts(survivor=survivor, merged=merged)}


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda s, m: None, "same_member"),
        (lambda s, m: Member.objects.filter(pk=m.pk).update(merged_into=MemberFactory()), "member_already_merged"),
        (lambda s, m: Member.objects.filter(pk=m.pk).update(anonymised_at=timezone.now()), "member_anonymised"),
        (lambda s, m: Member.objects.filter(pk=s.pk).update(status=MemberStatus.CLOSED), "survivor_closed"),
        (lambda s, m: Member.objects.filter(pk=s.pk).update(status=MemberStatus.PROSPECT), "survivor_prospect"),
    ],
)
def test_refusals_change_nothing(agent, setup, code):
    survivor, merged = _pair()
    services.points_earn(member=merged, amount=10, reason="Purchase")
    setup(survivor, merged)
    merged_id = survivor.pk if code == "same_member" else merged.pk
    with pytest.raises(ApplicationError) as refused:
        services.member_merge(survivor_id=survivor.pk, merged_id=merged_id, actor=agent, choices=_identity_choices(survivor, merged))
    assert refused.value.code == code
    assert not MemberMerge.objects.exists()
    assert PointsAccount.objects.get(member=merged).balance == 10


def test_a_pending_adjustment_must_be_decided_first(agent, staff):
    survivor, merged = _pair()
    services.points_adjust(member=merged, amount=10**6, reason="Goodwill", actor=agent)
    assert merged.points_adjustments.get().state == AdjustmentState.PENDING
    with pytest.raises(ApplicationError) as refused:
        services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices=_identity_choices(survivor, merged))
    assert refused.value.code == "pending_adjustments"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(OPERATIONS_MANAGER, True), (CUSTOMER_SERVICE, True), (CAMPAIGN_MANAGER, False), (ANALYST, False), (AUDITOR, False)],
)
def test_merging_is_permissioned_per_role(staff, role, allowed):
    survivor, merged = _pair()
    user = staff(role=role)
    if allowed:
        assert services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=user, choices=_identity_choices(survivor, merged))
    else:
        with pytest.raises(ApplicationError) as refused:
            services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=user, choices=_identity_choices(survivor, merged))
        assert refused.value.code == "permission_denied"
        with pytest.raises(ApplicationError):
            services.duplicate_dismiss(candidate=DuplicateCandidateFactory(member_a=survivor, member_b=merged), actor=user)


def test_the_pair_is_marked_merged_and_the_merged_members_other_pairs_leave_the_list(agent):
    survivor, merged = _pair()
    other = MemberFactory()
    pair = DuplicateCandidateFactory(member_a=survivor, member_b=merged)
    DuplicateCandidateFactory(member_a=merged, member_b=other)
    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices=_identity_choices(survivor, merged))
    pair.refresh_from_db()
    assert pair.state == DuplicateState.MERGED and pair.decided_by == agent
    assert not pair.__class__.objects.filter(member_b=other).exists()


@pytest.mark.django_db(transaction=True)
def test_two_agents_merging_the_same_pair_at_once_merge_it_once(staff):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL")
    survivor, merged = _pair()
    services.points_earn(member=merged, amount=100, reason="Purchase")
    agents = [staff(role=CUSTOMER_SERVICE) for _ in range(2)]
    choices = _identity_choices(survivor, merged)

    def merge(index: int) -> str:
        # One merges B into A, the other A into B: both lock the pair in key order, so one waits and is refused.
        pair = (survivor.pk, merged.pk) if index == 0 else (merged.pk, survivor.pk)
        services.member_merge(survivor_id=pair[0], merged_id=pair[1], actor=agents[index], choices=choices)
        return "merged"

    outcomes = run_at_once(merge, threads=2)
    assert outcomes == {"merged": 1, "member_already_merged": 1}
    assert MemberMerge.objects.count() == 1
    living = Member.objects.get(merged_into__isnull=True, pk__in=[survivor.pk, merged.pk])
    assert PointsAccount.objects.get(member=living).balance == 100


def test_the_api_answers_a_lookup_of_the_merged_member_with_the_survivor(agent, trusted_client):
    survivor, merged = _pair()
    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent)
    api, _client = trusted_client()
    answer = api.get(f"/api/v1/members/{merged.pk}/")
    assert answer.status_code == 200 and answer.json()["id"] == survivor.pk


def test_anonymising_the_survivor_erases_the_merged_record_and_the_audit_snapshot(agent):
    survivor, merged = _pair(email="wang@example.com")
    services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent)
    services.member_anonymise(member=survivor, reason="Deletion request", actor=agent)
    merged.refresh_from_db()
    assert merged.anonymised_at is not None and merged.email == "" and merged.name != "王小明"
    assert MemberMerge.objects.get().merged_snapshot == {}
