"""Tiers on several dimensions: growth value with purchases, spend and RFM-segment conditions; invitation-only tiers and
staff assignments with an end date; growth-value adjustments by staff; the what-if counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.analytics.models import ActivityEvent, RfmScore
from apps.core.errors import ApplicationError
from apps.core.outbox import outbox_subscribed_types
from apps.core.roles import CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import selectors, services
from apps.members.models import (
    AdjustmentState,
    GrowthAdjustment,
    GrowthEntry,
    Member,
    MemberStatus,
    Tier,
    TierAssignment,
    TierChange,
    TierChangeKind,
)
from apps.members.tier_rules import TIER_METRICS, TierRule
from tests.analytics.factories import purchase
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def grow(member: Member, amount: int, at=None) -> None:
    """Growth value without the promotion path (a row as the ledger writes it, dated ``at``)."""
    services.growth_add(member=member, amount=amount, reason="Purchase")
    if at is not None:
        GrowthEntry.objects.filter(member=member).update(created_at=at)


def set_conditions(code: str, **values) -> Tier:
    obj = tier(code)
    for name, value in values.items():
        setattr(obj, name, value)
    return services.tier_save(tier=obj)


def rfm(member: Member, segment: str) -> None:
    RfmScore.objects.update_or_create(
        member=member, defaults={"recency": 5, "frequency": 5, "monetary": 5, "segment": segment, "scored_at": timezone.now()}
    )


def tier_of(member: Member) -> str:
    member.refresh_from_db()
    return member.tier.code


def long_ago(member: Member, days: int = 400) -> None:
    """The member reached their tier long enough ago that the guarantee is over."""
    Member.objects.filter(pk=member.pk).update(tier_achieved_at=timezone.now() - timedelta(days=days))


class TestRegistry:
    def test_analytics_registers_purchases_spend_and_rfm_segment(self):
        assert {"purchases", "spend", "rfm_segment"} <= set(TIER_METRICS)

    def test_metrics_are_set_based_and_count_only_the_window(self, django_assert_max_num_queries):
        members = [MemberFactory() for _ in range(5)]
        now = timezone.now()
        for member in members:
            purchase(member, now - timedelta(days=2), "100.00")
        purchase(members[0], now - timedelta(days=400), "9999.00")  # outside the 365-day window
        since, until = now - timedelta(days=365), now
        ids = [member.pk for member in members]
        with django_assert_max_num_queries(1):
            counts = TIER_METRICS["purchases"].compute(ids, since, until)
        assert counts == dict.fromkeys(ids, 1)
        assert TIER_METRICS["spend"].compute(ids, since, until)[members[0].pk] == Decimal("100.00")


class TestConditionsCombine:
    """A member qualifies for a tier when growth AND every condition the tier sets hold."""

    def test_growth_alone_promotes_as_before(self):
        member = MemberFactory()
        grow(member, 5000)
        assert tier_of(member) == "gold"
        change = TierChange.objects.filter(member=member, kind=TierChangeKind.PROMOTION).first()
        assert change.reason_code == "tier_promoted"

    def test_growth_without_enough_spend_stops_below_the_tier(self):
        set_conditions("gold", min_spend=Decimal("3000.00"))
        member = MemberFactory()
        purchase(member, timezone.now() - timedelta(days=1), "2999.99")
        grow(member, 6000)
        assert tier_of(member) == "silver"

    def test_spend_exactly_at_the_threshold_qualifies(self):
        set_conditions("gold", min_spend=Decimal("3000.00"))
        member = MemberFactory()
        purchase(member, timezone.now() - timedelta(days=1), "3000.00")
        grow(member, 5000)
        assert tier_of(member) == "gold"
        change = TierChange.objects.filter(member=member, kind=TierChangeKind.PROMOTION).first()
        assert change.reason_code == "tier_promoted_conditions"
        assert "3000.00" in change.reason_text

    def test_purchases_count_and_growth_must_both_hold(self):
        set_conditions("gold", min_purchases=3)
        member = MemberFactory()
        for _ in range(2):
            purchase(member, timezone.now() - timedelta(days=3), "10.00")
        grow(member, 5000)
        assert tier_of(member) == "silver"
        purchase(member, timezone.now() - timedelta(days=1), "10.00")
        grow(member, 1)
        assert tier_of(member) == "gold"

    def test_purchases_outside_the_window_do_not_count(self):
        set_conditions("gold", min_purchases=1)
        member = MemberFactory()
        purchase(member, timezone.now() - timedelta(days=366), "10.00")
        grow(member, 5000)
        assert tier_of(member) == "silver"

    def test_rfm_segment_condition(self):
        set_conditions("vip", rfm_segments=["champions", "loyal"])
        member, other = MemberFactory(), MemberFactory()
        rfm(member, "loyal")
        rfm(other, "at_risk")
        grow(member, 20000)
        grow(other, 20000)
        assert (tier_of(member), tier_of(other)) == ("vip", "gold")

    def test_all_conditions_together_and_growth_still_needed(self):
        set_conditions("vip", min_purchases=2, min_spend=Decimal("10000"), rfm_segments=["champions"])
        member = MemberFactory()
        rfm(member, "champions")
        for _ in range(2):
            purchase(member, timezone.now() - timedelta(days=5), "6000.00")
        grow(member, 19999)
        assert tier_of(member) == "gold"
        grow(member, 1)
        assert tier_of(member) == "vip"

    def test_the_evaluation_promotes_when_spend_arrives_later(self):
        set_conditions("gold", min_spend=Decimal("1000"))
        member = MemberFactory()
        grow(member, 6000)
        assert tier_of(member) == "silver"
        purchase(member, timezone.now() - timedelta(hours=1), "1000.00")
        result = services.tiers_evaluate()
        assert result.promoted == 1 and tier_of(member) == "gold"

    def test_demotion_when_a_condition_lapses_after_the_guarantee(self):
        set_conditions("gold", min_purchases=1)
        member = MemberFactory()
        purchase(member, timezone.now() - timedelta(days=10), "50.00")
        grow(member, 6000)
        assert tier_of(member) == "gold"
        # Still within the guarantee: no demotion even though the purchase left the window.
        ActivityEvent.objects.filter(member=member).update(occurred_at=timezone.now() - timedelta(days=400))
        assert services.tiers_evaluate().demoted == 0 and tier_of(member) == "gold"
        long_ago(member)
        assert services.tiers_evaluate().demoted == 1 and tier_of(member) == "silver"
        change = TierChange.objects.filter(member=member, kind=TierChangeKind.DEMOTION).get()
        assert change.reason_code == "tier_demoted_conditions"
        assert "purchases 0" in change.reason_text

    def test_evaluation_reads_each_metric_once_per_chunk(self, django_assert_max_num_queries):
        set_conditions("gold", min_purchases=1, min_spend=Decimal("1"))
        set_conditions("vip", rfm_segments=["champions"])
        for _ in range(30):
            member = MemberFactory()
            purchase(member, timezone.now() - timedelta(days=1), "10.00")
        outbox_subscribed_types()  # the shared cache of subscribed webhook types is warm, as in a running system
        # lock chunk + growth + 3 metrics + tiers + savepoints, per chunk; the number does not grow with members.
        with django_assert_max_num_queries(14):
            services.tiers_evaluate(chunk_size=1000)


class TestTierSave:
    def test_lowest_tier_cannot_carry_conditions_or_be_invitation_only(self):
        for values in ({"min_purchases": 1}, {"invitation_only": True}, {"rfm_segments": ["loyal"]}):
            with pytest.raises(ApplicationError) as error:
                set_conditions("basic", **values)
            assert error.value.code == "lowest_tier_conditions"

    def test_unknown_rfm_segment_is_refused_naming_the_field(self):
        with pytest.raises(ApplicationError) as error:
            set_conditions("gold", rfm_segments=["whales"])
        assert error.value.code == "invalid_rfm_segments" and "rfm_segments" in error.value.fields
        assert tier("gold").rfm_segments == []

    def test_negative_spend_is_refused(self):
        with pytest.raises(ApplicationError) as error:
            set_conditions("gold", min_spend=Decimal("-1"))
        assert error.value.code == "invalid_spend"

    def test_an_invitation_only_tier_is_not_compared_on_thresholds(self):
        Tier.objects.create(code="ambassador", name="Ambassador", rank=5, threshold=0, invitation_only=True)
        services.tier_save(tier=Tier.objects.get(code="ambassador"))
        with pytest.raises(ApplicationError) as error:
            set_conditions("vip", threshold=10)
        assert error.value.code == "invalid_threshold"

    def test_saving_several_thresholds_together_checks_the_whole_set(self, staff):
        manager = staff(OPERATIONS_MANAGER)
        # Raising silver above gold's old threshold only works because gold rises in the same save.
        proposals = [
            services.TierThresholds(tier_id=tier("silver").pk, threshold=6000),
            services.TierThresholds(tier_id=tier("gold").pk, threshold=9000, min_spend=Decimal("5000")),
        ]
        changed = services.tiers_save_thresholds(thresholds=proposals, actor=manager)
        assert {t.code for t in changed} == {"silver", "gold"}
        assert (tier("silver").threshold, tier("gold").threshold, tier("gold").min_spend) == (6000, 9000, Decimal("5000"))
        assert tier("gold").history.first().history_user == manager

    def test_an_invalid_set_saves_nothing(self, staff):
        proposals = [
            services.TierThresholds(tier_id=tier("silver").pk, threshold=6000),
            services.TierThresholds(tier_id=tier("gold").pk, threshold=5500),
        ]
        with pytest.raises(ApplicationError) as error:
            services.tiers_save_thresholds(thresholds=proposals, actor=staff(OPERATIONS_MANAGER))
        assert error.value.code == "invalid_threshold"
        assert (tier("silver").threshold, tier("gold").threshold) == (1000, 5000)


@pytest.fixture
def ambassador():
    return Tier.objects.create(
        code="ambassador", name="Brand ambassador", name_zh_hans="品牌大使", rank=5, threshold=0, invitation_only=True
    )


class TestAssignment:
    def test_assigning_writes_history_assignment_and_audit(self, staff, ambassador):
        manager = staff(OPERATIONS_MANAGER)
        member = MemberFactory()
        ends = timezone.now() + timedelta(days=90)
        assignment = services.tier_assign(member=member, tier=ambassador, reason="Owner club founder", ends_at=ends, actor=manager)
        member.refresh_from_db()
        assert (member.tier, member.tier_assigned_until) == (ambassador, ends)
        change = TierChange.objects.filter(member=member, kind=TierChangeKind.ASSIGNMENT).get()
        assert (change.from_tier.code, change.to_tier, change.actor) == ("basic", ambassador, manager)
        assert "Owner club founder" in change.reason_text and change.reason_code == "tier_assigned"
        assert (assignment.assigned_by, assignment.from_tier.code, assignment.reason) == (manager, "basic", "Owner club founder")
        assert assignment.history.first().history_user == manager
        assert member.history.first().history_user == manager

    def test_member_progress_shows_the_assignment_and_skips_invitation_only_tiers(self, staff, ambassador):
        member = MemberFactory()
        grow(member, 25000)
        member.refresh_from_db()
        progress = selectors.member_tier_progress(member=member, guarantee_days=365)
        assert progress.tier.code == "vip" and progress.next_tier is None  # the ambassador tier is not earned
        ends = timezone.now() + timedelta(days=700)
        services.tier_assign(member=member, tier=ambassador, reason="Ambassador", ends_at=ends, actor=staff(OPERATIONS_MANAGER))
        member.refresh_from_db()
        assert selectors.member_tier_progress(member=member, guarantee_days=365).guaranteed_until == ends

    def test_invitation_only_tier_is_never_reached_by_qualifying(self, ambassador):
        member = MemberFactory()
        grow(member, 100000)
        assert tier_of(member) == "vip"
        assert services.tiers_evaluate().promoted == 0

    def test_no_demotion_before_the_end_date_then_the_normal_rules(self, staff, ambassador):
        member = MemberFactory()
        grow(member, 1500)
        assert tier_of(member) == "silver"
        ends = timezone.now() + timedelta(days=30)
        services.tier_assign(member=member, tier=ambassador, reason="Ambassador programme", ends_at=ends, actor=staff(OPERATIONS_MANAGER))
        long_ago(member)
        assert services.tiers_evaluate(now=ends - timedelta(seconds=1)).demoted == 0
        assert tier_of(member) == "ambassador"
        result = services.tiers_evaluate(now=ends + timedelta(seconds=1))
        assert result.assignments_ended == 1 and tier_of(member) == "silver"
        member.refresh_from_db()
        assert member.tier_assigned_until is None
        change = TierChange.objects.filter(member=member).first()
        assert (change.kind, change.reason_code) == (TierChangeKind.DEMOTION, "tier_assignment_ended")

    def test_assignment_to_an_ordinary_tier_holds_until_the_end_date(self, staff):
        member = MemberFactory()
        ends = timezone.now() + timedelta(days=10)
        services.tier_assign(member=member, tier=tier("vip"), reason="Compensation", ends_at=ends, actor=staff(OPERATIONS_MANAGER))
        long_ago(member)  # even with the guarantee over, the assignment holds
        assert services.tiers_evaluate(now=ends - timedelta(minutes=1)).demoted == 0 and tier_of(member) == "vip"
        # Afterwards the grace rule applies: one tier down per evaluation.
        services.tiers_evaluate(now=ends + timedelta(minutes=1))
        assert tier_of(member) == "gold"

    def test_qualifying_higher_promotes_and_ends_the_assignment(self, staff):
        member = MemberFactory()
        services.tier_assign(
            member=member,
            tier=tier("silver"),
            reason="Goodwill",
            ends_at=timezone.now() + timedelta(days=10),
            actor=staff(OPERATIONS_MANAGER),
        )
        grow(member, 5000)
        member.refresh_from_db()
        assert member.tier.code == "gold" and member.tier_assigned_until is None

    def test_refusals_change_nothing(self, staff, ambassador):
        member = MemberFactory()
        manager = staff(OPERATIONS_MANAGER)
        cases = [
            ({"reason": " ", "ends_at": timezone.now() + timedelta(days=1), "actor": manager}, "reason_required"),
            ({"reason": "x", "ends_at": timezone.now() - timedelta(days=1), "actor": manager}, "invalid_end_date"),
            ({"reason": "x", "ends_at": timezone.now() + timedelta(days=1), "actor": staff(CUSTOMER_SERVICE)}, "permission_denied"),
        ]
        for kwargs, code in cases:
            with pytest.raises(ApplicationError) as error:
                services.tier_assign(member=member, tier=ambassador, **kwargs)
            assert error.value.code == code
        services.member_freeze(member=member, reason="Check", actor=manager)
        with pytest.raises(ApplicationError) as error:
            services.tier_assign(member=member, tier=ambassador, reason="x", ends_at=timezone.now() + timedelta(days=1), actor=manager)
        assert error.value.code == "member_not_active"
        assert not TierAssignment.objects.exists()
        assert tier_of(member) == "basic"


class TestGrowthAdjust:
    def test_within_the_daily_limit_it_applies_and_promotes(self, staff, settings):
        settings.USEROPS = {**settings.USEROPS, "CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT": 1000}
        member = MemberFactory()
        agent = staff(CUSTOMER_SERVICE)
        adjustment = services.growth_adjust(member=member, amount=1000, reason="Missed purchase", actor=agent)
        assert adjustment.state == AdjustmentState.APPLIED
        assert (adjustment.entry.amount, adjustment.entry.actor, adjustment.entry.reason) == (1000, agent, "Missed purchase")
        assert tier_of(member) == "silver"
        assert adjustment.history.first().history_user == agent

    def test_above_the_limit_it_waits_and_moves_nothing(self, staff, settings):
        settings.USEROPS = {**settings.USEROPS, "CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT": 200}
        member = MemberFactory()
        agent = staff(CUSTOMER_SERVICE)
        assert services.growth_adjust(member=member, amount=150, reason="a", actor=agent).state == AdjustmentState.APPLIED
        pending = services.growth_adjust(member=member, amount=51, reason="b", actor=agent)
        assert pending.state == AdjustmentState.PENDING and pending.entry is None
        assert services.growth_adjust(member=member, amount=50, reason="c", actor=agent).state == AdjustmentState.APPLIED
        assert selectors.growth_adjust_allowance_left(actor=agent) == 0
        assert GrowthEntry.objects.filter(member=member).count() == 2

    def test_approval_by_another_person_applies_it(self, staff):
        member = MemberFactory()
        agent, manager = staff(CUSTOMER_SERVICE), staff(OPERATIONS_MANAGER)
        pending = services.growth_adjust(member=member, amount=5000, reason="Dealer purchase missed", actor=agent)
        for actor, code in ((agent, "permission_denied"), (staff(CUSTOMER_SERVICE), "permission_denied")):
            with pytest.raises(ApplicationError) as error:
                services.growth_adjustment_approve(adjustment=pending, actor=actor)
            assert error.value.code == code
        approved = services.growth_adjustment_approve(adjustment=pending, actor=manager, note="Invoice seen")
        assert (approved.state, approved.decided_by, approved.entry.amount, approved.entry.actor) == (
            AdjustmentState.APPROVED,
            manager,
            5000,
            agent,
        )
        assert tier_of(member) == "gold"
        with pytest.raises(ApplicationError) as error:
            services.growth_adjustment_reject(adjustment=approved, actor=staff(OPERATIONS_MANAGER), note="late")
        assert error.value.code == "adjustment_decided"

    def test_own_adjustment_cannot_be_decided_and_rejection_needs_a_note(self, staff):
        member = MemberFactory()
        manager = staff(OPERATIONS_MANAGER)
        own = GrowthAdjustment.objects.create(member=member, amount=900, reason="Mine", state=AdjustmentState.PENDING, requested_by=manager)
        with pytest.raises(ApplicationError) as error:
            services.growth_adjustment_approve(adjustment=own, actor=manager)
        assert error.value.code == "own_adjustment"
        other = staff(OPERATIONS_MANAGER)
        with pytest.raises(ApplicationError, match="reason"):
            services.growth_adjustment_reject(adjustment=own, actor=other, note=" ")
        rejected = services.growth_adjustment_reject(adjustment=own, actor=other, note="No evidence")
        assert (rejected.state, rejected.entry) == (AdjustmentState.REJECTED, None)
        assert not GrowthEntry.objects.filter(member=member).exists()
        with pytest.raises(IntegrityError), transaction.atomic():
            GrowthAdjustment.objects.filter(pk=own.pk).update(decided_by=manager)

    def test_refusals(self, staff):
        member = MemberFactory()
        manager = staff(OPERATIONS_MANAGER)
        for kwargs, code in (
            ({"amount": 0, "reason": "x", "actor": manager}, "invalid_amount"),
            ({"amount": 10, "reason": "", "actor": manager}, "reason_required"),
            ({"amount": -1, "reason": "x", "actor": manager}, "insufficient_growth"),
            ({"amount": 10, "reason": "x", "actor": staff()}, "permission_denied"),
        ):
            with pytest.raises(ApplicationError) as error:
                services.growth_adjust(member=member, **kwargs)
            assert error.value.code == code
        assert not GrowthAdjustment.objects.exists() and not GrowthEntry.objects.exists()
        services.member_close(member=member, reason="Left", actor=manager)
        with pytest.raises(ApplicationError) as error:
            services.growth_adjust(member=member, amount=10, reason="x", actor=manager)
        assert error.value.code == "member_closed"

    def test_a_deduction_down_to_zero_is_allowed_and_never_below(self, staff):
        member = MemberFactory()
        manager = staff(OPERATIONS_MANAGER)
        grow(member, 300)
        services.growth_adjust(member=member, amount=-300, reason="Refunded order", actor=manager)
        member.refresh_from_db()
        assert member.growth_value == 0
        assert member.status == MemberStatus.ACTIVE


class TestWhatIf:
    def test_counts_with_proposed_rules_change_nothing(self, django_assert_max_num_queries):
        members = [MemberFactory() for _ in range(6)]
        for index, member in enumerate(members):
            grow(member, 1000 * (index + 1))  # 1000 … 6000: silver×4, gold×2
        purchase(members[5], timezone.now() - timedelta(days=1), "8000.00")
        current = {t.code: t for t in Tier.objects.all()}
        before = list(Member.objects.values_list("pk", "tier_id", "growth__value"))
        rules = [TierRule.of(t) for t in current.values()]
        today = {row.name: (row.now, row.after_evaluation) for row in selectors.tiers_what_if(rules=rules)}
        assert today["Silver"] == (4, 4) and today["Gold"] == (2, 2)
        gold = TierRule.of(current["gold"])
        proposed = [rule if rule.tier_id != gold.tier_id else TierRule(**{**gold.__dict__, "min_spend": Decimal("5000")}) for rule in rules]
        with django_assert_max_num_queries(4):
            counts = {row.name: row for row in selectors.tiers_what_if(rules=proposed)}
        # The member without spend stays gold (guarantee) but no longer qualifies outright.
        assert (counts["Gold"].now, counts["Gold"].after_evaluation, counts["Gold"].qualified) == (2, 2, 1)
        assert counts["Silver"].qualified == 5
        assert list(Member.objects.values_list("pk", "tier_id", "growth__value")) == before
