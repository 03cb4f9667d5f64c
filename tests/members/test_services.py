from datetime import timedelta

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.roles import CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import (
    AdjustmentState,
    Consent,
    GrowthEntry,
    GrowthValue,
    Member,
    MemberStatus,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsEntryKind,
    PointsLot,
    TierChange,
    TierChangeKind,
)
from tests.conftest import APP_ROLE_MODE
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def ledger_sum(member: Member) -> int:
    return sum(PointsEntry.objects.filter(account__member=member).values_list("amount", flat=True))


def balance(member: Member) -> int:
    return PointsAccount.objects.get(member=member).balance


def assert_books_balance(member: Member) -> None:
    assert balance(member) == ledger_sum(member)
    assert balance(member) == sum(PointsLot.objects.filter(account__member=member).values_list("remaining", flat=True))


class TestEnrol:
    def test_enrols_at_lowest_tier_with_empty_account_and_history(self):
        member = services.member_enrol(name=" 张伟 ", phone="138-0013-8000", consents={"sms": True, "email": False})
        assert member.name == "张伟"
        assert member.phone == "+8613800138000"
        assert member.tier == tier("basic")
        assert balance(member) == 0
        assert TierChange.objects.get(member=member).kind == TierChangeKind.INITIAL
        assert dict(Consent.objects.filter(member=member).values_list("channel", "granted")) == {"sms": True, "email": False}

    @pytest.mark.parametrize(
        "written", ["+86 138 0013 8000", "8613800138000", "１３８００１３８０００", " 13800138000 ", "0086-138-0013-8000"]
    )
    def test_phone_in_any_common_form_is_one_member(self, written):
        services.member_enrol(name="A", phone="13800138000")
        with pytest.raises(ApplicationError) as error:
            services.member_enrol(name="B", phone=written)
        assert error.value.code == "duplicate_phone"
        assert error.value.http_status == 409

    def test_duplicate_external_id_refused(self):
        services.member_enrol(name="A", external_id="CRM-1")
        with pytest.raises(ApplicationError, match="external ID") as error:
            services.member_enrol(name="B", external_id="CRM-1")
        assert error.value.code == "duplicate_external_id"

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"name": "", "phone": "13800138000"}, "name_required"),
            ({"name": "A", "phone": "12345"}, "invalid_phone"),
            ({"name": "A"}, "identity_required"),
            ({"name": "A", "phone": "13800138000", "source_channel": "fax"}, "invalid_channel"),
            ({"name": "A" * 101, "phone": "13800138000"}, "name_too_long"),
        ],
    )
    def test_bad_input_names_the_problem_and_writes_nothing(self, fields, code):
        with pytest.raises(ApplicationError) as error:
            services.member_enrol(**fields)
        assert error.value.code == code
        assert not Member.objects.exists()

    def test_future_birthday_refused(self):
        with pytest.raises(ApplicationError, match="future"):
            services.member_enrol(name="A", phone="13800138000", birthday=timezone.localdate() + timedelta(days=1))


class TestProfileAndStatus:
    def test_update_normalises_and_checks_uniqueness(self):
        other = MemberFactory(phone="+8613900000001")
        member = MemberFactory()
        with pytest.raises(ApplicationError) as error:
            services.member_update_profile(member=member, phone="139 0000 0001")
        assert error.value.code == "duplicate_phone"
        updated = services.member_update_profile(member=member, city=" 杭州 ", tags=["车主"])
        assert updated.city == "杭州"
        assert list(updated.tags.values_list("name", flat=True)) == ["车主"]
        assert other.phone == "+8613900000001"

    def test_unknown_field_refused(self):
        with pytest.raises(ApplicationError) as error:
            services.member_update_profile(member=MemberFactory(), tier_id=4)
        assert error.value.code == "invalid_field"

    def test_status_transitions_need_reason_and_right_state(self):
        member = MemberFactory()
        with pytest.raises(ApplicationError, match="reason"):
            services.member_freeze(member=member, reason=" ")
        services.member_freeze(member=member, reason="fraud check")
        with pytest.raises(ApplicationError) as error:
            services.member_freeze(member=member, reason="again")
        assert error.value.code == "invalid_status"
        services.member_unfreeze(member=member, reason="cleared")
        services.member_close(member=member, reason="member asked")
        member.refresh_from_db()
        assert member.status == MemberStatus.CLOSED
        with pytest.raises(ApplicationError):
            services.member_unfreeze(member=member, reason="x")

    def test_history_records_who_changed_what(self, staff):
        actor = staff(OPERATIONS_MANAGER)
        member = MemberFactory(city="上海")
        services.member_update_profile(member=member, city="北京", actor=actor)
        latest = member.history.first()
        assert latest.history_user == actor
        assert latest.diff_against(latest.prev_record).changed_fields == ["city"]


class TestPoints:
    def test_earn_spend_reverse_keep_books_balanced(self):
        member = MemberFactory()
        earned = services.points_earn(member=member, amount=500, reason="Purchase", source_ref="ORD-1")
        assert earned.balance_after == 500 and earned.expires_at > timezone.now()
        spent = services.points_spend(member=member, amount=200, reason="Mall")
        assert spent.amount == -200 and spent.balance_after == 300
        reversal = services.points_reverse(entry=spent, reason="Order cancelled")
        assert reversal.kind == PointsEntryKind.REVERSE and reversal.amount == 200 and reversal.balance_after == 500
        assert_books_balance(member)

    def test_overspend_refused_with_balance(self):
        member = MemberFactory()
        services.points_earn(member=member, amount=100, reason="Purchase")
        with pytest.raises(ApplicationError) as error:
            services.points_spend(member=member, amount=101, reason="Mall")
        assert error.value.code == "insufficient_points"
        assert error.value.extra == {"balance": 100}
        assert balance(member) == 100
        assert_books_balance(member)

    @pytest.mark.parametrize("amount", [0, -5, 1.5, True, 10**9])
    def test_invalid_amounts_refused(self, amount):
        with pytest.raises(ApplicationError) as error:
            services.points_earn(member=MemberFactory(), amount=amount, reason="x")
        assert error.value.code == "invalid_amount"

    def test_spending_consumes_earliest_expiring_first(self):
        member = MemberFactory()
        now = timezone.now()
        late = services.points_earn(member=member, amount=100, reason="late", expires_at=now + timedelta(days=300))
        soon = services.points_earn(member=member, amount=100, reason="soon", expires_at=now + timedelta(days=10))
        services.points_spend(member=member, amount=150, reason="Mall")
        assert PointsLot.objects.get(entry=soon).remaining == 0
        assert PointsLot.objects.get(entry=late).remaining == 50

    def test_expired_points_cannot_be_spent(self):
        member = MemberFactory()
        entry = services.points_earn(member=member, amount=100, reason="Purchase", expires_at=timezone.now() + timedelta(seconds=1))
        PointsLot.objects.filter(entry=entry).update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(ApplicationError) as error:
            services.points_spend(member=member, amount=1, reason="Mall")
        assert error.value.code == "insufficient_points"
        # the refusal rolled back the inline expiry too: the periodic job expires it for real
        assert services.points_expire_due() == 100
        assert balance(member) == 0
        assert PointsEntry.objects.filter(account__member=member, kind=PointsEntryKind.EXPIRE).get().amount == -100
        assert_books_balance(member)

    def test_expiry_job_is_idempotent_and_chunked(self):
        members = [MemberFactory() for _ in range(5)]
        for member in members:
            entry = services.points_earn(member=member, amount=70, reason="Purchase")
            PointsLot.objects.filter(entry=entry).update(expires_at=timezone.now() - timedelta(days=1))
            services.points_earn(member=member, amount=30, reason="Purchase")
        assert services.points_expire_due(chunk_size=2) == 350
        assert services.points_expire_due(chunk_size=2) == 0
        for member in members:
            assert balance(member) == 30
            assert_books_balance(member)

    def test_frozen_or_closed_member_cannot_earn_or_spend(self):
        member = MemberFactory()
        services.points_earn(member=member, amount=100, reason="Purchase")
        services.member_freeze(member=member, reason="check")
        for operation in (services.points_earn, services.points_spend):
            with pytest.raises(ApplicationError) as error:
                operation(member=member, amount=10, reason="x")
            assert error.value.code == "member_frozen"

    def test_reversal_only_once_and_not_of_expiry(self):
        member = MemberFactory()
        entry = services.points_earn(member=member, amount=100, reason="Purchase")
        services.points_reverse(entry=entry, reason="Refund")
        with pytest.raises(ApplicationError) as error:
            services.points_reverse(entry=entry, reason="Refund again")
        assert error.value.code == "already_reversed"
        assert balance(member) == 0
        assert_books_balance(member)

    def test_reversing_an_earn_already_spent_is_refused(self):
        member = MemberFactory()
        entry = services.points_earn(member=member, amount=100, reason="Purchase")
        services.points_spend(member=member, amount=80, reason="Mall")
        with pytest.raises(ApplicationError) as error:
            services.points_reverse(entry=entry, reason="Refund")
        assert error.value.code == "insufficient_points"
        assert_books_balance(member)

    def test_adjust_needs_reason_and_respects_the_daily_limit(self, staff):
        member = MemberFactory()
        agent = staff(CUSTOMER_SERVICE)
        manager = staff(OPERATIONS_MANAGER)
        with pytest.raises(ApplicationError, match="reason"):
            services.points_adjust(member=member, amount=10, reason="", actor=agent)
        assert services.points_adjust(member=member, amount=501, reason="Goodwill", actor=agent).state == AdjustmentState.PENDING
        assert services.points_adjust(member=member, amount=500, reason="Goodwill", actor=agent).state == AdjustmentState.APPLIED
        services.points_adjust(member=member, amount=5000, reason="Migration fix", actor=manager)
        services.points_adjust(member=member, amount=-300, reason="Duplicate credit", actor=manager)
        assert balance(member) == 5200
        assert PointsEntry.objects.filter(account__member=member, actor=agent).count() == 1
        assert_books_balance(member)

    def test_the_limit_is_per_staff_member_per_day_not_per_operation(self, staff, settings):
        settings.USEROPS = {**settings.USEROPS, "CUSTOMER_SERVICE_DAILY_ADJUST_LIMIT": 500}
        member = MemberFactory()
        agent, colleague = staff(CUSTOMER_SERVICE), staff(CUSTOMER_SERVICE)
        states = [services.points_adjust(member=member, amount=amount, reason="Goodwill", actor=agent).state for amount in (300, -200, 1)]
        assert states == [AdjustmentState.APPLIED, AdjustmentState.APPLIED, AdjustmentState.PENDING]
        assert services.points_adjust(member=member, amount=500, reason="Goodwill", actor=colleague).state == AdjustmentState.APPLIED
        PointsAdjustment.objects.filter(requested_by=agent).update(requested_at=timezone.now() - timedelta(days=1))
        assert services.points_adjust(member=member, amount=500, reason="Next day", actor=agent).state == AdjustmentState.APPLIED
        assert balance(member) == 300 - 200 + 500 + 500
        assert_books_balance(member)

    def test_a_pending_adjustment_moves_points_only_when_another_person_approves(self, staff):
        member = MemberFactory()
        agent, manager = staff(CUSTOMER_SERVICE), staff(OPERATIONS_MANAGER)
        pending = services.points_adjust(member=member, amount=800, reason="Lost order", actor=agent)
        assert balance(member) == 0 and not PointsEntry.objects.filter(account__member=member).exists()
        with pytest.raises(ApplicationError) as error:
            services.points_adjustment_approve(adjustment=pending, actor=agent)
        assert error.value.code == "permission_denied"
        approved = services.points_adjustment_approve(adjustment=pending, actor=manager, note="Order checked")
        assert (approved.state, approved.decided_by, approved.entry.amount, approved.entry.actor) == (
            AdjustmentState.APPROVED,
            manager,
            800,
            agent,
        )
        assert balance(member) == 800
        assert approved.history.first().history_user == manager
        with pytest.raises(ApplicationError) as error:
            services.points_adjustment_reject(adjustment=approved, actor=staff(OPERATIONS_MANAGER), note="Too late")
        assert error.value.code == "adjustment_decided"
        assert_books_balance(member)

    def test_approving_or_rejecting_ones_own_adjustment_is_refused(self, staff):
        member = MemberFactory()
        manager = staff(OPERATIONS_MANAGER)
        own = PointsAdjustment.objects.create(member=member, amount=900, reason="Mine", state=AdjustmentState.PENDING, requested_by=manager)
        for decide in (services.points_adjustment_approve, services.points_adjustment_reject):
            with pytest.raises(ApplicationError) as error:
                decide(adjustment=own, actor=manager, note="ok")
            assert error.value.code == "own_adjustment"
        own.refresh_from_db()
        assert own.state == AdjustmentState.PENDING and balance(member) == 0
        with pytest.raises(IntegrityError), transaction.atomic():
            PointsAdjustment.objects.filter(pk=own.pk).update(decided_by=manager)

    def test_rejection_needs_a_reason_and_moves_nothing(self, staff):
        member = MemberFactory()
        pending = services.points_adjust(member=member, amount=-900, reason="Fraud", actor=staff(CUSTOMER_SERVICE))
        manager = staff(OPERATIONS_MANAGER)
        with pytest.raises(ApplicationError, match="reason"):
            services.points_adjustment_reject(adjustment=pending, actor=manager, note=" ")
        rejected = services.points_adjustment_reject(adjustment=pending, actor=manager, note="No evidence")
        assert (rejected.state, rejected.entry, rejected.decision_note) == (AdjustmentState.REJECTED, None, "No evidence")
        assert balance(member) == 0

    def test_staff_without_right_cannot_adjust(self, staff):
        with pytest.raises(ApplicationError) as error:
            services.points_adjust(member=MemberFactory(), amount=1, reason="x", actor=staff())
        assert error.value.code == "permission_denied"

    def test_ledger_is_append_only_in_the_database(self):
        entry = services.points_earn(member=MemberFactory(), amount=100, reason="Purchase")
        # The owner is stopped by the append-only trigger; the application's role has no right to try.
        refusal = ProgrammingError if APP_ROLE_MODE else IntegrityError
        for attempt in (
            lambda: PointsEntry.objects.filter(pk=entry.pk).update(amount=999),
            lambda: connection.cursor().execute("DELETE FROM members_pointsentry WHERE id = %s", [entry.pk]),
        ):
            with pytest.raises(refusal), transaction.atomic():
                attempt()
        assert PointsEntry.objects.get(pk=entry.pk).amount == 100

    def test_balance_can_never_go_negative_in_the_database(self):
        member = MemberFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            PointsAccount.objects.filter(member=member).update(balance=-1)


class TestTiers:
    def test_promotion_as_soon_as_threshold_is_crossed(self):
        member = MemberFactory()
        _entry, change = services.growth_add(member=member, amount=999, reason="Purchase")
        assert change is None
        _entry, change = services.growth_add(member=member, amount=1, reason="Purchase")
        assert change.kind == TierChangeKind.PROMOTION and change.to_tier == tier("silver")
        assert "1000" in change.reason
        _entry, change = services.growth_add(member=member, amount=30_000, reason="Purchase")
        assert change.to_tier == tier("vip")

    def test_growth_outside_the_window_does_not_count(self, settings):
        member = MemberFactory()
        GrowthEntry.objects.create(member=member, amount=5000, reason="old", created_at=timezone.now() - timedelta(days=400))
        _entry, change = services.growth_add(member=member, amount=10, reason="Purchase")
        assert change is None
        member.refresh_from_db()
        assert member.growth_value == 10

    def test_demotion_only_after_guarantee_and_one_step_at_a_time(self):
        member = MemberFactory()
        services.growth_add(member=member, amount=20_000, reason="Purchase")
        member.refresh_from_db()
        assert member.tier == tier("vip")
        # growth ages out of the window, but the tier is guaranteed for a year from when it was reached
        GrowthEntry.objects.filter(member=member).update(created_at=timezone.now() - timedelta(days=400))
        assert services.tiers_evaluate().demoted == 0
        Member.objects.filter(pk=member.pk).update(tier_achieved_at=timezone.now() - timedelta(days=366))
        result = services.tiers_evaluate()
        assert (result.evaluated, result.demoted) == (1, 1)
        member.refresh_from_db()
        assert member.tier == tier("gold")
        assert member.tier_changes.first().kind == TierChangeKind.DEMOTION
        # the guarantee restarts at the lower tier
        assert services.tiers_evaluate().demoted == 0

    def test_evaluation_promotes_missed_values_and_rerun_changes_nothing(self):
        members = [MemberFactory() for _ in range(3)]
        GrowthEntry.objects.create(member=members[0], amount=6000, reason="import")
        first = services.tiers_evaluate(chunk_size=2)
        assert (first.evaluated, first.promoted) == (3, 1)
        assert Member.objects.get(pk=members[0].pk).tier == tier("gold")
        second = services.tiers_evaluate(chunk_size=2)
        assert (second.promoted, second.demoted) == (0, 0)

    def test_growth_value_alone_leaves_the_members_updated_at_and_a_tier_change_moves_it(self):
        """A growth value moves with its ledger, as a points balance does: only a change of the member's record (the
        tier) moves ``updated_at``, on the one-member path, the set-based path and the nightly evaluation alike."""
        member, other = MemberFactory(), MemberFactory()
        long_ago = timezone.now() - timedelta(days=3)
        Member.objects.filter(pk__in=[member.pk, other.pk]).update(updated_at=long_ago)
        services.growth_add(member=member, amount=10, reason="Purchase")
        services.growth_add_many(credits=[services.GrowthCredit(member_id=other.pk, amount=20, reason="Purchase")])
        assert dict(Member.objects.filter(pk__in=[member.pk, other.pk]).values_list("pk", "growth__value")) == {member.pk: 10, other.pk: 20}
        assert set(Member.objects.filter(pk__in=[member.pk, other.pk]).values_list("updated_at", flat=True)) == {long_ago}
        GrowthEntry.objects.filter(member=member).update(created_at=timezone.now() - timedelta(days=400))
        services.tiers_evaluate()
        assert Member.objects.values_list("growth__value", "updated_at").get(pk=member.pk) == (0, long_ago)
        services.growth_add_many(credits=[services.GrowthCredit(member_id=other.pk, amount=1000, reason="Purchase")])
        promoted = Member.objects.get(pk=other.pk)
        assert promoted.tier == tier("silver") and promoted.updated_at > long_ago
        services.growth_add(member=member, amount=1000, reason="Purchase")
        assert Member.objects.get(pk=member.pk).updated_at > long_ago

    def test_a_growth_award_writes_its_own_narrow_row_and_no_version_of_the_members_row(self):
        """The growth value lives beside the member (``GrowthValue``), so an award that promotes nobody adds no row
        version to the member table and its twenty indexes, on the one-member and the set-based path alike."""
        if connection.vendor != "postgresql":
            pytest.skip("row versions (xmin) are PostgreSQL's")
        member, other = MemberFactory(), MemberFactory()

        def member_row_versions() -> list:
            with connection.cursor() as cursor:
                cursor.execute("SELECT id, xmin::text FROM members_member WHERE id = ANY(%s) ORDER BY id", [[member.pk, other.pk]])
                return cursor.fetchall()

        before = member_row_versions()
        services.growth_add(member=member, amount=10, reason="Purchase")
        services.growth_add_many(credits=[services.GrowthCredit(member_id=other.pk, amount=20, reason="Purchase")])
        services.growth_add_many(credits=[services.GrowthCredit(member_id=other.pk, amount=5, reason="Purchase")])
        assert member_row_versions() == before
        assert dict(GrowthValue.objects.values_list("member_id", "value")) == {member.pk: 10, other.pk: 25}
        assert Member.objects.select_related("growth").get(pk=other.pk).growth_value == 25
        assert MemberFactory().growth_value == 0, "a member who never earned any has no row and a growth value of 0"

    def test_tier_thresholds_must_rise_with_rank(self):
        silver = tier("silver")
        silver.threshold = 6000
        with pytest.raises(ApplicationError) as error:
            services.tier_save(tier=silver)
        assert error.value.code == "invalid_threshold"
        basic = tier("basic")
        basic.threshold = 10
        with pytest.raises(ApplicationError):
            services.tier_save(tier=basic)
