"""A back-office save never writes the counters grants move (service level, deterministic)."""

from decimal import Decimal

import pytest

from apps.benefits import services
from apps.benefits.models import Benefit, GrantSource
from apps.core.errors import ApplicationError
from tests.benefits.factories import BenefitFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_saving_a_form_opened_before_grants_keeps_the_grants_counted():
    benefit = BenefitFactory(total_stock=10, budget=Decimal("1000.00"))
    form_instance = Benefit.objects.get(pk=benefit.pk)
    for member in MemberFactory.create_batch(3):
        services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF)

    form_instance.description = "Edited while grants went out"
    services.benefit_save(benefit=form_instance)

    stored = Benefit.objects.get(pk=benefit.pk)
    assert (stored.issued_count, stored.cost_committed, stored.description) == (3, Decimal("90.00"), "Edited while grants went out")
    assert (form_instance.issued_count, form_instance.cost_committed) == (3, Decimal("90.00"))


def test_stock_and_budget_are_checked_against_the_counters_as_they_are_now():
    benefit = BenefitFactory(total_stock=10, budget=Decimal("1000.00"))
    form_instance = Benefit.objects.get(pk=benefit.pk)
    for member in MemberFactory.create_batch(3):
        services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF)

    form_instance.total_stock, form_instance.budget = 2, Decimal("60.00")
    with pytest.raises(ApplicationError) as refused:
        services.benefit_save(benefit=form_instance)

    assert refused.value.code == "invalid_benefit" and set(refused.value.fields) == {"total_stock", "budget"}
    stored = Benefit.objects.get(pk=benefit.pk)
    assert (stored.total_stock, stored.budget, stored.issued_count) == (10, Decimal("1000.00"), 3)


def test_a_new_benefit_starts_with_nothing_issued_whatever_the_form_held():
    benefit = BenefitFactory.build(issued_count=7, cost_committed=Decimal("70.00"))
    services.benefit_save(benefit=benefit)
    assert Benefit.objects.values_list("issued_count", "cost_committed").get(pk=benefit.pk) == (0, Decimal("0.00"))
