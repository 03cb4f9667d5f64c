"""Grants an activity reaction decides are left pending in its transaction and issued by a worker, exactly once."""

import pytest

from apps.benefits.models import Grant, GrantSource, PendingGrant
from apps.benefits.services import DeferredGrant, grants_defer, grants_pending_issue
from apps.core.errors import ApplicationError
from apps.members.merging import MEMBER_MERGERS
from tests.benefits.factories import BenefitFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def deferred(benefit, member, ref="rule:1:activity:1"):
    return DeferredGrant(benefit_id=benefit.pk, member_id=member.pk, source=GrantSource.EARNING_RULE, source_ref=ref)


def test_a_pending_grant_is_issued_once_however_often_it_is_deferred_or_swept():
    benefit, member = BenefitFactory(), MemberFactory()
    grants_defer(grants=[deferred(benefit, member)])
    grants_defer(grants=[deferred(benefit, member)])  # the same award again: nothing more
    assert PendingGrant.objects.count() == 1 and not Grant.objects.exists()
    result = grants_pending_issue()
    assert (result.handled, result.issued) == (1, 1) and not PendingGrant.objects.exists()
    grant = Grant.objects.get()
    assert (grant.member_id, grant.source, grant.source_ref) == (member.pk, GrantSource.EARNING_RULE, "rule:1:activity:1")
    grants_defer(grants=[deferred(benefit, member)])  # a retry after the grant was made
    assert grants_pending_issue().issued == 0 and Grant.objects.count() == 1


def test_stock_limits_hold_and_a_benefit_that_cannot_be_granted_is_dropped_not_retried_forever():
    scarce, paused = BenefitFactory(total_stock=1), BenefitFactory(status="paused")
    first, second = MemberFactory(), MemberFactory()
    grants_defer(grants=[deferred(scarce, first, "r:1"), deferred(scarce, second, "r:2"), deferred(paused, first, "r:3")])
    result = grants_pending_issue()
    assert (result.handled, result.issued) == (3, 1) and not PendingGrant.objects.exists()
    assert list(Grant.objects.values_list("benefit_id", flat=True)) == [scarce.pk]


def test_a_deferred_grant_needs_a_known_source_and_a_reference():
    benefit, member = BenefitFactory(), MemberFactory()
    with pytest.raises(ApplicationError):
        grants_defer(grants=[DeferredGrant(benefit_id=benefit.pk, member_id=member.pk, source="nonsense", source_ref="x")])
    with pytest.raises(ApplicationError):
        grants_defer(grants=[DeferredGrant(benefit_id=benefit.pk, member_id=member.pk, source=GrantSource.TASK, source_ref="")])
    assert not PendingGrant.objects.exists()


def test_merging_members_moves_their_pending_grants():
    benefit, survivor, merged = BenefitFactory(), MemberFactory(), MemberFactory()
    grants_defer(grants=[deferred(benefit, merged)])
    mover = next(merger for merger in MEMBER_MERGERS if merger.name == "benefits")
    assert mover.move(survivor, merged)["pending_grants"] == 1
    assert PendingGrant.objects.get().member_id == survivor.pk
