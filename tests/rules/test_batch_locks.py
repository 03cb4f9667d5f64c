"""One store of activities locks the members it pays once, in key order, before any reaction pays: a task paying one
member and a rule paying another (in the opposite key order) and a purchase take no member or points account after
that first lock that it did not already take."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.campaigns.models import Referral, ReferralState
from apps.campaigns.services import referral_attach, referral_code_for
from apps.members.models import GrowthEntry, PointsAccount
from tests.core.factories import ApiClientFactory
from tests.engagement.factories import TaskFactory
from tests.members.factories import MemberFactory
from tests.rules.factories import EarningRuleFactory, event, ingest

pytestmark = pytest.mark.django_db

LOCKING = re.compile(r"\bFOR (NO KEY )?UPDATE\b")
MEMBER_TABLES = ("members_member", "members_pointsaccount")


@contextmanager
def recorded_statements() -> Iterator[list[tuple[str, object]]]:
    """Every statement sent inside the block, with its parameters (the lock tests read both)."""
    statements: list[tuple[str, object]] = []

    def record(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def _member_locks(statements: list[tuple[str, object]]) -> list[tuple[str, object]]:
    return [(sql, params) for sql, params in statements if LOCKING.search(sql) and any(table in sql for table in MEMBER_TABLES)]


def test_the_members_a_store_pays_are_locked_first_in_one_statement_in_key_order():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    low, high, buyer = MemberFactory(), MemberFactory(), MemberFactory()
    TaskFactory(activity_kind="event_attendance", target=1, reward_points=5, reward_growth=3)
    EarningRuleFactory(kind="sign_in", points=10, growth=2)
    at = timezone.now() - timedelta(minutes=5)
    with recorded_statements() as statements:
        answer = ingest(
            ApiClientFactory(),
            # The task pays the member with the higher key first, the rule the lower one after it.
            event(high, kind="event_attendance", at=at, event_id="attended"),
            event(low, kind="sign_in", at=at, event_id="signed-in"),
            event(buyer, kind="purchase", at=at, amount="100.00", event_id="bought"),
        )
    assert answer["created"] == 3
    locks = _member_locks(statements)
    first_sql, first_params = locks[0]
    assert "FOR UPDATE OF account FOR NO KEY UPDATE OF member" in first_sql
    assert first_params == [sorted([low.pk, high.pk, buyer.pk])]
    assert len(locks) > 1, "the payers still lock what they write, under the lock already held"
    balances = dict(PointsAccount.objects.filter(member__in=[low, high]).values_list("member_id", "balance"))
    assert balances == {low.pk: 10, high.pk: 5}
    assert sorted(GrowthEntry.objects.filter(member__in=[low, high]).values_list("member_id", "amount")) == [(low.pk, 2), (high.pk, 3)]
    assert PointsAccount.objects.get(member=buyer).balance > 0


def test_a_store_that_pays_nobody_locks_no_member():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    member = MemberFactory()
    EarningRuleFactory(kind="sign_in", points=10)
    with recorded_statements() as statements:
        answer = ingest(ApiClientFactory(), event(member, kind="share", at=timezone.now() - timedelta(minutes=5)))
    assert answer["created"] == 1 and answer["points_awarded"] == 0
    assert _member_locks(statements) == []


def test_a_first_purchase_locks_the_referrer_it_rewards_in_the_stores_one_statement():
    """The referral's reaction pays the referrer, who is not a member of the store's events: the store names it before
    its one ordered lock, so the reaction takes no member lock of its own in another order."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    referrer, referee = MemberFactory(), MemberFactory()
    referral_attach(referee=referee, code=referral_code_for(member=referrer).code)
    with recorded_statements() as statements:
        answer = ingest(ApiClientFactory(), event(referee, kind="purchase", at=timezone.now() - timedelta(minutes=5), amount="100.00"))
    assert answer["created"] == 1
    first_sql, first_params = _member_locks(statements)[0]
    assert "FOR UPDATE OF account FOR NO KEY UPDATE OF member" in first_sql
    assert first_params == [sorted([referrer.pk, referee.pk])]
    assert Referral.objects.get(referee=referee).state == ReferralState.REWARDED
    assert PointsAccount.objects.get(member=referrer).balance == 2000


def test_a_purchase_that_is_not_a_first_one_locks_no_referrer():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    referrer, referee = MemberFactory(), MemberFactory()
    client = ApiClientFactory()
    ingest(client, event(referee, kind="purchase", at=timezone.now() - timedelta(minutes=10), amount="10.00"))
    referral_attach(referee=referee, code=referral_code_for(member=referrer).code)
    with recorded_statements() as statements:
        ingest(client, event(referee, kind="purchase", at=timezone.now() - timedelta(minutes=5), amount="100.00"))
    assert _member_locks(statements)[0][1] == [[referee.pk]]
    assert Referral.objects.get(referee=referee).state == ReferralState.PENDING
    assert PointsAccount.objects.get(member=referrer).balance == 0
