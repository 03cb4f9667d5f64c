"""Real threads against PostgreSQL: an address claimed by two members at the same instant goes to one of them."""

from collections import Counter

import pytest

from apps.identities import services
from apps.identities.models import ChannelIdentity, IdentityKind, SubscriptionQuota
from tests.identities.factories import ChannelIdentityFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

THREADS = 8


def test_one_openid_claimed_by_several_members_at_once_goes_to_one():
    members = [MemberFactory().pk for _ in range(THREADS)]

    def claim(index: int) -> str:
        services.identity_set(member_id=members[index], kind=IdentityKind.OFFICIAL_ACCOUNT, app_id="wx-oa", external_id="oContested")
        return "set"

    assert run_at_once(claim, THREADS) == Counter({"set": 1, "identity_taken": THREADS - 1})
    assert ChannelIdentity.objects.filter(external_id="oContested").count() == 1


def test_subscriptions_reported_at_once_all_count():
    member = MemberFactory()
    ChannelIdentityFactory(member=member, kind=IdentityKind.MINI_PROGRAM, app_id="wx-mp")

    def grant(index: int) -> str:
        services.subscription_grant(member_id=member.pk, template_id="tmpl-1", count=2)
        return "granted"

    assert run_at_once(grant, THREADS) == Counter({"granted": THREADS})
    assert SubscriptionQuota.objects.get(member=member).remaining == 2 * THREADS
