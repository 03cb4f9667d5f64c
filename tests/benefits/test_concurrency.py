"""Stock, per-member limits, single redemption and the points mall under real concurrent requests."""

import threading
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, connections, transaction

from apps.benefits import services
from apps.benefits.models import Benefit, Grant, GrantSource, Redemption
from apps.members import services as member_services
from apps.members.models import PointsAccount
from tests.benefits.factories import BenefitFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import assert_books_balance, run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_stock_is_never_exceeded():
    benefit = BenefitFactory(total_stock=5)
    members = MemberFactory.create_batch(16)

    def grab(index: int) -> str:
        services.grant_issue(benefit=benefit, member=members[index], source=GrantSource.STAFF)
        return "granted"

    outcomes = run_at_once(grab)
    assert outcomes["granted"] == 5 and outcomes["out_of_stock"] == 11
    assert Benefit.objects.get(pk=benefit.pk).issued_count == 5 == Grant.objects.count()


def test_per_member_limit_holds():
    benefit = BenefitFactory(per_member_lifetime_limit=2, budget=Decimal("1000.00"))
    member = MemberFactory()

    def grab(index: int) -> str:
        services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF)
        return "granted"

    outcomes = run_at_once(grab)
    assert outcomes["granted"] == 2 and Grant.objects.filter(member=member).count() == 2


def test_one_code_redeemed_once():
    grant = services.grant_issue(benefit=BenefitFactory(), member=MemberFactory(), source=GrantSource.STAFF)

    def redeem(index: int) -> str:
        services.grant_redeem(code=grant.code, channel="pos", order_ref=f"POS-{index}")
        return "redeemed"

    outcomes = run_at_once(redeem)
    assert outcomes["redeemed"] == 1 and outcomes["already_redeemed"] == 15
    assert Redemption.objects.count() == 1


def test_points_mall_never_overdraws():
    member = MemberFactory()
    member_services.points_earn(member=member, amount=1000, reason="Purchase")
    benefit = BenefitFactory(points_price=300)

    def buy(index: int) -> str:
        services.mall_exchange(member=member, benefit=benefit)
        return "bought"

    outcomes = run_at_once(buy)
    assert outcomes["bought"] == 3 and outcomes["insufficient_points"] == 13
    assert PointsAccount.objects.get(member=member).balance == 100
    assert Grant.objects.count() == 3
    assert_books_balance(member)


def test_back_office_saves_beside_grants_keep_counters_equal_to_the_grants():
    """Form saves, each from a page opened before the grants around it, race API-style grants on one benefit."""
    benefit = BenefitFactory(total_stock=500, budget=Decimal("100000.00"), unit_cost=Decimal("25.00"))
    members = MemberFactory.create_batch(60)

    def work(index: int) -> str:
        if index % 4 == 0:
            for round_ in range(6):
                opened = Benefit.objects.get(pk=benefit.pk)
                services.grant_issue(benefit=benefit, member=members[(index + round_) % len(members)], source=GrantSource.STAFF)
                opened.description = f"edit {index}.{round_}"
                services.benefit_save(benefit=opened)
            return "saved"
        for member in members[index::16]:
            services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF)
        return "granted"

    outcomes = run_at_once(work)
    assert outcomes["saved"] == 4 and outcomes["granted"] == 12
    stored = Benefit.objects.get(pk=benefit.pk)
    grants = Grant.objects.filter(benefit=benefit)
    assert stored.issued_count == grants.count() == 4 * 6 + sum(len(members[i::16]) for i in range(16) if i % 4)
    assert stored.cost_committed == sum(grants.values_list("cost", flat=True))


def test_redemptions_of_one_benefit_do_not_wait_for_each_other():
    """Only the grant is locked: a redemption still open does not hold back another grant of the same benefit."""
    if connection.vendor != "postgresql":
        pytest.skip("locks are proven on PostgreSQL")
    benefit = BenefitFactory()
    first, second = (services.grant_issue(benefit=benefit, member=MemberFactory(), source=GrantSource.STAFF) for _ in range(2))
    first_holds, second_done = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def hold_first() -> None:
        try:
            with transaction.atomic():
                services.grant_redeem(code=first.code, channel="pos")
                first_holds.set()
                second_done.wait(timeout=10)
        finally:
            connections.close_all()

    def redeem_second() -> None:
        try:
            first_holds.wait(timeout=10)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
                services.grant_redeem(code=second.code, channel="pos")
            outcomes["second"] = "redeemed"
        except OperationalError as exc:
            outcomes["second"] = f"waited: {exc}"
        finally:
            second_done.set()
            connections.close_all()

    pool = [threading.Thread(target=hold_first), threading.Thread(target=redeem_second)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert outcomes == {"second": "redeemed"}
    assert Redemption.objects.count() == 2
