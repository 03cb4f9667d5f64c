"""Real threads against PostgreSQL: growth-value adjustments racing for one staff member's daily limit, and two
people deciding the same pending adjustment at once."""

import pytest
from django.db.models import Sum

from apps.core.roles import CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import AdjustmentState, GrowthAdjustment, GrowthEntry
from tests.core.factories import UserFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_racing_growth_adjustments_of_one_staff_member_stay_within_the_daily_limit(settings):
    settings.USEROPS = {**settings.USEROPS, "CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT": 200}
    member = MemberFactory()
    agent = UserFactory(role=CUSTOMER_SERVICE)

    def adjust(index: int) -> str:
        return services.growth_adjust(member=member, amount=200, reason=f"Goodwill {index}", actor=agent).state

    outcomes = run_at_once(adjust, threads=4)
    assert outcomes == {AdjustmentState.APPLIED: 1, AdjustmentState.PENDING: 3}
    assert GrowthEntry.objects.filter(member=member).aggregate(total=Sum("amount"))["total"] == 200
    assert GrowthAdjustment.objects.filter(requested_by=agent).count() == 4


def test_two_people_approving_at_once_apply_it_once():
    member = MemberFactory()
    pending = services.growth_adjust(member=member, amount=900, reason="Missed order", actor=UserFactory(role=CUSTOMER_SERVICE))
    managers = [UserFactory(role=OPERATIONS_MANAGER) for _ in range(2)]

    def approve(index: int) -> str:
        return services.growth_adjustment_approve(adjustment=pending, actor=managers[index], note="ok").state

    outcomes = run_at_once(approve, threads=2)
    assert outcomes == {AdjustmentState.APPROVED: 1, "adjustment_decided": 1}
    assert GrowthEntry.objects.filter(member=member).count() == 1
