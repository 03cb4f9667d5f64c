from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.campaigns import services
from apps.campaigns.models import Referral, ReferralState
from apps.core.errors import ApplicationError
from apps.members.models import MemberStatus, PointsAccount
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def balance(member):
    return PointsAccount.objects.get(member=member).balance


def test_code_is_made_once_per_member():
    member = MemberFactory()
    code = services.referral_code_for(member=member)
    assert len(code.code) == 8 and services.referral_code_for(member=member) == code


def test_qualifying_action_rewards_both_once():
    referrer, referee = MemberFactory(), MemberFactory()
    referral = services.referral_attach(referee=referee, code=services.referral_code_for(member=referrer).code.lower())
    assert referral.state == ReferralState.PENDING
    rewarded = services.referral_qualify(referee=referee, action="first_purchase")
    again = services.referral_qualify(referee=referee, action="first_event_attended")
    assert rewarded.state == again.state == ReferralState.REWARDED
    assert (balance(referrer), balance(referee)) == (2000, 500)
    assert services.referral_qualify(referee=MemberFactory(), action="first_purchase") is None


def test_guards():
    referrer = MemberFactory(email="same@example.com")
    code = services.referral_code_for(member=referrer).code
    with pytest.raises(ApplicationError) as exc:
        services.referral_attach(referee=referrer, code=code)
    assert exc.value.code == "self_referral"
    with pytest.raises(ApplicationError) as exc:
        services.referral_attach(referee=MemberFactory(), code="NOPE")
    assert exc.value.code == "referral_code_invalid"
    same_person = services.referral_attach(referee=MemberFactory(email="Same@example.com"), code=code)
    assert (same_person.state, same_person.reject_reason) == (ReferralState.REJECTED, "same_person")
    old = services.referral_attach(referee=MemberFactory(joined_at=timezone.now() - timedelta(days=30)), code=code)
    assert (old.state, old.reject_reason) == (ReferralState.REJECTED, "already_member")
    with pytest.raises(ApplicationError) as exc:
        services.referral_attach(referee=old.referee, code=code)
    assert exc.value.code == "already_referred"
    assert services.referral_qualify(referee=old.referee, action="first_purchase").state == ReferralState.REJECTED
    assert balance(referrer) == 0
    with pytest.raises(ApplicationError) as exc:
        services.referral_qualify(referee=old.referee, action="birthday")
    assert exc.value.code == "invalid_action"


@override_settings(
    USEROPS_REFERRALS={
        "REFERRER_POINTS": 100,
        "REFEREE_POINTS": 10,
        "QUALIFYING_ACTIONS": ["first_purchase"],
        "ATTACH_WITHIN_HOURS": 24,
        "MONTHLY_CAP_PER_REFERRER": 2,
    }
)
def test_monthly_cap_per_referrer():
    referrer = MemberFactory()
    code = services.referral_code_for(member=referrer).code
    referees = MemberFactory.create_batch(3)
    for referee in referees:
        services.referral_attach(referee=referee, code=code)
        services.referral_qualify(referee=referee, action="first_purchase")
    states = list(Referral.objects.order_by("id").values_list("state", "reject_reason"))
    assert states == [("rewarded", ""), ("rewarded", ""), ("rejected", "cap_reached")]
    assert balance(referrer) == 200


def test_no_reward_for_a_frozen_referrer():
    referrer, referee = MemberFactory(), MemberFactory()
    services.referral_attach(referee=referee, code=services.referral_code_for(member=referrer).code)
    referrer.status = MemberStatus.FROZEN
    referrer.save()
    referral = services.referral_qualify(referee=referee, action="first_purchase")
    assert (referral.state, referral.reject_reason) == (ReferralState.REJECTED, "member_not_active")
