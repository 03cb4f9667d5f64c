from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.benefits import services
from apps.benefits.models import BenefitKind, BenefitStatus, Grant, GrantSource, GrantState
from apps.core.errors import ApplicationError
from apps.core.roles import ANALYST, CUSTOMER_SERVICE
from apps.members import services as member_services
from apps.members.models import PointsAccount, PointsEntry
from tests.benefits.factories import BenefitFactory, TierBenefitFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def issue(benefit, member, **kwargs):
    return services.grant_issue(benefit=benefit, member=member, source=kwargs.pop("source", GrantSource.STAFF), **kwargs)


def refusal(call) -> str:
    with pytest.raises(ApplicationError) as error:
        call()
    return error.value.code


class TestGrant:
    def test_grant_has_unguessable_code_validity_and_counts(self):
        benefit = BenefitFactory(validity_days=10, total_stock=5, budget=Decimal("150.00"))
        grant = issue(benefit, MemberFactory())
        assert len(grant.code) == 16 and grant.code.isalnum() and grant.code.isupper()
        assert grant.state == GrantState.ISSUED
        assert grant.valid_until - grant.valid_from == timedelta(days=10)
        benefit.refresh_from_db()
        assert (benefit.issued_count, benefit.cost_committed) == (1, Decimal("30.00"))
        assert len({issue(benefit, MemberFactory()).code for _ in range(3)}) == 3

    def test_refusals_name_the_reason(self):
        member = MemberFactory()
        assert refusal(lambda: issue(BenefitFactory(status=BenefitStatus.PAUSED), member)) == "benefit_not_active"
        assert refusal(lambda: issue(BenefitFactory(total_stock=0), member)) == "out_of_stock"
        assert refusal(lambda: issue(BenefitFactory(budget=Decimal("10.00")), member)) == "budget_exhausted"
        gold_only = BenefitFactory()
        gold_only.eligible_tiers.set([tier("gold")])
        assert refusal(lambda: issue(gold_only, member)) == "tier_not_eligible"
        limited = BenefitFactory(per_member_lifetime_limit=1)
        issue(limited, member)
        assert refusal(lambda: issue(limited, member)) == "member_limit_reached"
        monthly = BenefitFactory(per_member_period_limit=1)
        issue(monthly, member)
        assert refusal(lambda: issue(monthly, member)) == "member_period_limit_reached"
        once = BenefitFactory()
        issue(once, member, source_ref="campaign-run:1")
        assert refusal(lambda: issue(once, member, source_ref="campaign-run:1")) == "already_granted"
        member_services.member_freeze(member=member, reason="check")
        assert refusal(lambda: issue(BenefitFactory(), member)) == "member_not_active"

    def test_fixed_window_caps_validity(self):
        now = timezone.now()
        benefit = BenefitFactory(validity_days=30, valid_until=now + timedelta(days=5))
        grant = issue(benefit, MemberFactory())
        assert grant.valid_until == benefit.valid_until
        ended = BenefitFactory(validity_days=None, valid_until=now - timedelta(days=1))
        assert refusal(lambda: issue(ended, MemberFactory())) == "benefit_window_closed"

    def test_catalogue_checks(self):
        benefit = BenefitFactory.build(kind=BenefitKind.PERCENT_DISCOUNT, discount_percent=20, discount_cap=None)
        with pytest.raises(ApplicationError) as error:
            services.benefit_save(benefit=benefit)
        assert "discount_percent" in error.value.fields
        benefit = BenefitFactory.build(validity_days=None, valid_until=None)
        assert refusal(lambda: services.benefit_save(benefit=benefit)) == "invalid_benefit"
        saved = services.benefit_save(benefit=BenefitFactory.build(kind=BenefitKind.BADGE, face_value=Decimal("0")))
        assert saved.category == "status"


class TestRedeemRevokeExpire:
    def test_redeem_once_by_code_with_dashes_and_lowercase(self):
        grant = issue(BenefitFactory(), MemberFactory())
        code = "-".join(grant.code[i : i + 4] for i in range(0, 16, 4)).lower()
        redemption = services.grant_redeem(code=code, channel="pos", order_ref="POS-1")
        assert redemption.grant == grant
        grant.refresh_from_db()
        assert grant.state == GrantState.REDEEMED
        assert refusal(lambda: services.grant_redeem(code=grant.code, channel="pos")) == "already_redeemed"

    def test_expired_revoked_and_other_members_grants_are_refused(self):
        benefit = BenefitFactory()
        owner, other = MemberFactory(), MemberFactory()
        grant = issue(benefit, owner)
        assert refusal(lambda: services.grant_redeem(code=grant.code, channel="pos", member=other)) == "grant_not_found"
        assert refusal(lambda: services.grant_redeem(code="NOPE", channel="pos")) == "grant_not_found"
        Grant.objects.filter(pk=grant.pk).update(
            valid_until=timezone.now() - timedelta(seconds=1), valid_from=timezone.now() - timedelta(days=1)
        )
        assert refusal(lambda: services.grant_redeem(code=grant.code, channel="pos")) == "grant_expired"
        revoked = issue(benefit, owner)
        services.grant_revoke(grant=revoked, reason="Issued by mistake")
        assert refusal(lambda: services.grant_redeem(code=revoked.code, channel="pos")) == "grant_revoked"
        assert refusal(lambda: services.grant_redeem(code=revoked.code, channel="fax")) == "invalid_channel"

    def test_revoke_needs_reason_returns_stock_and_only_unused(self):
        benefit = BenefitFactory(total_stock=1)
        grant = issue(benefit, MemberFactory())
        assert refusal(lambda: services.grant_revoke(grant=grant, reason=" ")) == "reason_required"
        services.grant_revoke(grant=grant, reason="Wrong member")
        benefit.refresh_from_db()
        assert (benefit.issued_count, benefit.cost_committed) == (0, Decimal("0.00"))
        redeemed = issue(benefit, MemberFactory())
        services.grant_redeem(code=redeemed.code, channel="staff")
        assert refusal(lambda: services.grant_revoke(grant=redeemed, reason="x")) == "grant_not_revocable"

    def test_expiry_job_is_idempotent(self):
        benefit = BenefitFactory()
        grants = [issue(benefit, MemberFactory()) for _ in range(3)]
        Grant.objects.filter(pk__in=[g.pk for g in grants[:2]]).update(
            valid_until=timezone.now() - timedelta(minutes=1), valid_from=timezone.now() - timedelta(days=1)
        )
        assert services.grants_expire_due(chunk_size=1) == 2
        assert services.grants_expire_due() == 0
        assert Grant.objects.filter(state=GrantState.EXPIRED).count() == 2


class TestPointsMall:
    def test_exchange_debits_points_and_grants_together(self):
        member = MemberFactory()
        member_services.points_earn(member=member, amount=1000, reason="Purchase")
        benefit = BenefitFactory(points_price=600)
        grant = services.mall_exchange(member=member, benefit=benefit)
        assert grant.source == GrantSource.POINTS_MALL and grant.points_entry.amount == -600
        assert PointsAccount.objects.get(member=member).balance == 400

    def test_exchange_without_enough_points_changes_nothing(self):
        member = MemberFactory()
        member_services.points_earn(member=member, amount=100, reason="Purchase")
        benefit = BenefitFactory(points_price=600)
        assert refusal(lambda: services.mall_exchange(member=member, benefit=benefit)) == "insufficient_points"
        assert not Grant.objects.exists() and PointsAccount.objects.get(member=member).balance == 100

    def test_exchange_refused_when_out_of_stock_keeps_points(self):
        member = MemberFactory()
        member_services.points_earn(member=member, amount=1000, reason="Purchase")
        benefit = BenefitFactory(points_price=100, total_stock=0)
        assert refusal(lambda: services.mall_exchange(member=member, benefit=benefit)) == "out_of_stock"
        assert PointsAccount.objects.get(member=member).balance == 1000
        assert PointsEntry.objects.filter(account__member=member).count() == 1

    def test_refund_of_unused_mall_grant_reverses_points(self):
        member = MemberFactory()
        member_services.points_earn(member=member, amount=1000, reason="Purchase")
        grant = services.mall_exchange(member=member, benefit=BenefitFactory(points_price=600))
        services.grant_revoke(grant=grant, reason="Member changed their mind")
        assert PointsAccount.objects.get(member=member).balance == 1000
        assert refusal(lambda: services.mall_exchange(member=member, benefit=BenefitFactory())) == "not_in_mall"


class TestTierBenefits:
    def test_promotion_grants_once(self):
        link = TierBenefitFactory(tier=tier("silver"))
        member = MemberFactory()
        member_services.growth_add(member=member, amount=1500, reason="Purchase")
        assert services.tier_benefits_grant_for_promotions() == 1
        assert services.tier_benefits_grant_for_promotions() == 0
        assert Grant.objects.get().benefit == link.benefit

    def test_recurring_grants_once_per_period(self):
        monthly = TierBenefitFactory(tier=tier("basic"), recurrence="monthly")
        birthday = TierBenefitFactory(tier=tier("basic"), recurrence="birthday")
        today = timezone.localdate()
        MemberFactory.create_batch(2)
        MemberFactory(birthday=today.replace(year=1990))
        assert services.tier_benefits_grant_recurring() == 4
        assert services.tier_benefits_grant_recurring() == 0
        assert Grant.objects.filter(benefit=monthly.benefit).count() == 3
        assert Grant.objects.filter(benefit=birthday.benefit).count() == 1


class TestBulk:
    def test_bulk_respects_eligibility_limits_stock_and_reruns(self):
        benefit = BenefitFactory(total_stock=4, per_member_lifetime_limit=1)
        members = MemberFactory.create_batch(6)
        issue(benefit, members[0])
        member_services.member_freeze(member=members[1], reason="check")
        ids = [m.pk for m in members]
        result = services.grants_issue_bulk(benefit=benefit, member_ids=ids, source=GrantSource.CAMPAIGN, source_ref="run:1", chunk_size=2)
        assert (result.issued, result.skipped_limit, result.skipped_ineligible, result.skipped_stock) == (3, 1, 1, 1)
        again = services.grants_issue_bulk(benefit=benefit, member_ids=ids, source=GrantSource.CAMPAIGN, source_ref="run:1")
        assert again.issued == 0
        benefit.refresh_from_db()
        assert benefit.issued_count == 4 == Grant.objects.filter(benefit=benefit).count()

    def test_a_rerun_skips_only_grants_of_the_same_benefit(self):
        members = MemberFactory.create_batch(3)
        ids = [m.pk for m in members]
        first, second = BenefitFactory(), BenefitFactory()
        services.grants_issue_bulk(benefit=first, member_ids=ids[:2], source=GrantSource.CAMPAIGN, source_ref="run:7")
        result = services.grants_issue_bulk(benefit=second, member_ids=ids, source=GrantSource.CAMPAIGN, source_ref="run:7")
        assert (result.issued, result.skipped_duplicate) == (3, 0)
        again = services.grants_issue_bulk(benefit=first, member_ids=ids, source=GrantSource.CAMPAIGN, source_ref="run:7")
        assert (again.issued, again.skipped_duplicate) == (1, 2)
        assert Grant.objects.filter(benefit=first).count() == 3 == Grant.objects.filter(benefit=second).count()


class TestStaffRedemption:
    def test_staff_with_the_permission_redeem_by_grant_and_are_recorded(self, staff):
        grant = issue(BenefitFactory(), MemberFactory())
        desk = staff(CUSTOMER_SERVICE)
        redemption = services.grant_redeem_by_staff(grant=grant, actor=desk, order_ref="DESK-9")
        assert (redemption.actor, redemption.channel, redemption.order_ref) == (desk, "staff", "DESK-9")

    def test_staff_without_the_permission_are_refused(self, staff):
        grant = issue(BenefitFactory(), MemberFactory())
        assert refusal(lambda: services.grant_redeem_by_staff(grant=grant, actor=staff(ANALYST))) == "permission_denied"
        grant.refresh_from_db()
        assert grant.state == GrantState.ISSUED

    def test_a_code_is_required(self):
        assert refusal(lambda: services.grant_redeem(code=" - ", channel="pos")) == "code_required"
