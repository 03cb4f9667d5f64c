"""Badges and titles are benefits: granted by any engine, never expiring unless the benefit says so, never redeemed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.benefits import services as benefit_services
from apps.benefits.models import PERMANENT_UNTIL, Benefit, GrantSource, GrantState, Redemption
from apps.core.errors import ApplicationError
from tests.engagement.factories import BadgeFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_a_badge_needs_no_validity_and_its_grant_never_expires():
    badge = benefit_services.benefit_save(benefit=Benefit(name="早鸟", kind="badge"))
    grant = benefit_services.grant_issue(benefit=badge, member=MemberFactory(), source=GrantSource.STAFF)
    assert grant.valid_until == PERMANENT_UNTIL
    assert benefit_services.grants_expire_due(now=timezone.now() + timedelta(days=365 * 50)) == 0


def test_a_coupon_still_needs_a_validity():
    with pytest.raises(ApplicationError) as refused:
        benefit_services.benefit_save(benefit=Benefit(name="¥50", kind="fixed_coupon"))
    assert "validity_days" in refused.value.fields


def test_a_badge_with_a_validity_expires_as_the_benefit_says():
    badge = BadgeFactory(validity_days=30)
    grant = benefit_services.grant_issue(benefit=badge, member=MemberFactory(), source=GrantSource.STAFF)
    assert grant.valid_until < timezone.now() + timedelta(days=31)
    assert benefit_services.grants_expire_due(now=timezone.now() + timedelta(days=31)) == 1


def test_a_badge_cannot_be_redeemed_by_code_or_by_staff(staff):
    grant = benefit_services.grant_issue(benefit=BadgeFactory(), member=MemberFactory(), source=GrantSource.STAFF)
    with pytest.raises(ApplicationError) as refused:
        benefit_services.grant_redeem(code=grant.code, channel="pos")
    assert refused.value.code == "not_redeemable"
    with pytest.raises(ApplicationError) as refused:
        benefit_services.grant_redeem_by_staff(grant=grant, actor=staff(is_superuser=True))
    assert refused.value.code == "not_redeemable"
    grant.refresh_from_db()
    assert grant.state == GrantState.ISSUED and not Redemption.objects.exists()


def test_the_redeem_api_refuses_a_badge_clearly(trusted_client):
    from apps.core.models import ApiScope

    api, _client = trusted_client(scopes=[ApiScope.BENEFITS_REDEEM])
    grant = benefit_services.grant_issue(benefit=BadgeFactory(), member=MemberFactory(), source=GrantSource.STAFF)
    answer = api.post("/api/v1/grants/redeem/", {"code": grant.code, "channel": "pos"}, format="json", HTTP_IDEMPOTENCY_KEY="b-1")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "not_redeemable"
    assert not Redemption.objects.exists()


def test_the_refusal_reads_in_chinese():
    from django.utils import translation

    grant = benefit_services.grant_issue(benefit=BadgeFactory(), member=MemberFactory(), source=GrantSource.STAFF)
    with translation.override("zh-hans"), pytest.raises(ApplicationError) as refused:
        benefit_services.grant_redeem(code=grant.code, channel="pos")
    assert refused.value.message == "勋章或称号是会员持有的身份标识，不能核销。"
