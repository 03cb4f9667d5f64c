"""Two activity batches racing for one member's task complete it once: one completion, one reward, one badge."""

import threading

import pytest
from django.db import connection, connections, transaction

from apps.benefits.models import Grant
from apps.benefits.services import grants_pending_issue
from apps.engagement import services
from apps.engagement.models import TaskCompletion, TaskGoal, TaskProgress
from apps.members.models import PointsAccount
from tests.engagement.factories import BadgeFactory, TaskFactory, activity, local
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import THREADS, assert_books_balance, run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_racing_batches_complete_a_task_once():
    badge = BadgeFactory()
    task = TaskFactory(target=2, reward_points=100, reward_growth=10, reward_badge=badge)
    member = MemberFactory()

    def batch(index: int) -> str:
        with transaction.atomic():
            services.task_progress_record([activity(member), activity(member)])
        return "stored"

    outcomes = run_at_once(batch)
    assert outcomes["stored"] == THREADS
    assert TaskCompletion.objects.filter(task=task, member=member).count() == 1
    assert TaskProgress.objects.get(task=task, member=member).value == 2 * THREADS
    assert PointsAccount.objects.get(member=member).balance == 100
    assert grants_pending_issue().issued == 1
    assert Grant.objects.filter(member=member, benefit=badge).count() == 1
    assert_books_balance(member)


def test_a_batch_waits_for_the_other_and_sees_its_progress():
    """The first batch holds the progress row; the second, started meanwhile, counts on top of it and completes."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL")
    task = TaskFactory(goal=TaskGoal.STREAK, activity_kind="sign_in", target=2, reward_points=7)
    member = MemberFactory()
    services.task_progress_record([activity(member, "sign_in", local(2026, 12, 1))])
    first_holds, release = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                services.task_progress_record([activity(member, "sign_in", local(2026, 12, 1, 20))])
                first_holds.set()
                release.wait(10)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_holds.wait(10)
            with transaction.atomic():
                services.task_progress_record([activity(member, "sign_in", local(2026, 12, 2))])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_holds.wait(10)
    threads[1].join(0.5)
    assert threads[1].is_alive(), "the second batch waits for the first one's lock"
    release.set()
    for thread in threads:
        thread.join(10)
    assert TaskCompletion.objects.filter(task=task).count() == 1
    assert PointsAccount.objects.get(member=member).balance == 7


def test_batches_of_the_same_members_in_opposite_orders_do_not_deadlock():
    TaskFactory(target=2, reward_points=5)
    members = MemberFactory.create_batch(6)

    def batch(index: int) -> str:
        ordered = members if index % 2 else list(reversed(members))
        with transaction.atomic():
            services.task_progress_record([activity(member) for member in ordered])
        return "stored"

    outcomes = run_at_once(batch)
    assert outcomes == {"stored": THREADS}
    assert TaskCompletion.objects.count() == 6
    assert sorted(PointsAccount.objects.filter(member__in=members).values_list("balance", flat=True)) == [5] * 6
