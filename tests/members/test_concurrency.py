"""Real threads against PostgreSQL: the limits hold when requests arrive at the same instant."""

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from apps.core.errors import ApplicationError
from apps.core.roles import CUSTOMER_SERVICE
from apps.members import services
from apps.members.models import AdjustmentState, Member, PointsAccount, PointsAdjustment, PointsEntry, PointsLot
from tests.core.factories import ApiClientFactory, UserFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

THREADS = 16


def run_at_once(work: Callable[[int], str], threads: int = THREADS) -> Counter:
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL")
    barrier = threading.Barrier(threads)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            barrier.wait()
            outcome = work(index)
        except ApplicationError as exc:
            outcome = exc.code
        finally:
            connections.close_all()
        with lock:
            outcomes[outcome] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return outcomes


def assert_books_balance(member: Member) -> None:
    account = PointsAccount.objects.get(member=member)
    assert account.balance == sum(PointsEntry.objects.filter(account=account).values_list("amount", flat=True))
    assert account.balance == sum(PointsLot.objects.filter(account=account).values_list("remaining", flat=True))


def test_simultaneous_spends_never_overdraw():
    member = MemberFactory()
    for _ in range(3):
        services.points_earn(member=member, amount=100, reason="Purchase")

    def spend(index: int) -> str:
        services.points_spend(member=member, amount=40, reason=f"Order {index}")
        return "spent"

    outcomes = run_at_once(spend)
    assert outcomes == Counter({"spent": 7, "insufficient_points": THREADS - 7})
    assert PointsAccount.objects.get(member=member).balance == 300 - 7 * 40
    assert_books_balance(member)


def test_simultaneous_earn_spend_and_expiry_keep_books_balanced():
    member = MemberFactory()
    services.points_earn(member=member, amount=1000, reason="Opening")

    def mixed(index: int) -> str:
        if index % 3 == 0:
            services.points_earn(member=member, amount=10, reason="Purchase")
        elif index % 3 == 1:
            services.points_spend(member=member, amount=25, reason="Mall")
        else:
            services.points_expire_due()
        return "ok"

    run_at_once(mixed)
    assert_books_balance(member)


def test_same_idempotency_key_at_once_has_one_effect():
    member = MemberFactory()
    client = ApiClientFactory()

    def earn(index: int) -> str:
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=client.raw_key)
        response = api.post(f"/api/v1/members/{member.pk}/points/earn/", {"amount": 50, "reason": "Order"}, HTTP_IDEMPOTENCY_KEY="same")
        return str(response.status_code)

    outcomes = run_at_once(earn, threads=8)
    assert set(outcomes) <= {"201", "409"} and outcomes["201"] >= 1
    assert PointsAccount.objects.get(member=member).balance == 50
    assert_books_balance(member)


def test_simultaneous_enrolments_with_one_phone_make_one_member():
    def enrol(index: int) -> str:
        services.member_enrol(name=f"Twin {index}", phone="+86 138 0000 9999")
        return "enrolled"

    outcomes = run_at_once(enrol, threads=8)
    assert outcomes["enrolled"] == 1
    assert set(outcomes) - {"enrolled"} <= {"duplicate_phone"}
    assert Member.objects.filter(phone="+8613800009999").count() == 1


def test_racing_adjustments_of_one_staff_member_stay_within_the_daily_limit(settings):
    settings.USEROPS = {**settings.USEROPS, "CUSTOMER_SERVICE_DAILY_ADJUST_LIMIT": 500}
    member = MemberFactory()
    agent = UserFactory(role=CUSTOMER_SERVICE)

    def adjust(index: int) -> str:
        return services.points_adjust(member=member, amount=500, reason=f"Goodwill {index}", actor=agent).state

    outcomes = run_at_once(adjust, threads=4)
    assert outcomes == {AdjustmentState.APPLIED: 1, AdjustmentState.PENDING: 3}
    assert PointsAccount.objects.get(member=member).balance == 500
    assert PointsAdjustment.objects.filter(requested_by=agent).count() == 4
    assert_books_balance(member)
