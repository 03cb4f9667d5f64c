"""The ledger's set-based path (imports, campaigns, earning rules) and how it shares the single-member path."""

from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.models.signals import post_init, pre_init
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.reasons import Reason
from apps.members import services
from apps.members.bulk import MemberRecord, members_bulk_upsert
from apps.members.locks import lock_points_accounts
from apps.members.models import (
    Member,
    MemberStatus,
    PointsAccount,
    PointsEntry,
    PointsEntryKind,
    PointsLot,
    TierChange,
    TierChangeKind,
)
from apps.members.services import PointsCredit
from apps.members.services.ledger import COPY_FROM_ROWS
from tests.conftest import APP_ROLE_MODE
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def assert_books_balance(member: Member) -> None:
    balance = PointsAccount.objects.get(member=member).balance
    assert balance == sum(PointsEntry.objects.filter(account__member=member).values_list("amount", flat=True))
    assert balance == sum(PointsLot.objects.filter(account__member=member).values_list("remaining", flat=True))


def owner(member: Member) -> services.AccountOwner:
    return services.AccountOwner(member.pk, member.phone, member.email, member.name)


def balances(members: list[Member]) -> dict[int, int]:
    return dict(PointsAccount.objects.filter(member__in=members).values_list("member_id", "balance"))


def test_credits_many_members_at_once_and_every_balance_equals_its_ledger_and_lots():
    first, second = MemberFactory(), MemberFactory()
    services.points_earn(member=first, amount=40, reason="Purchase")
    reason = Reason("campaign", {"name": "Spring"})
    credited = services.points_credit_many(
        credits=[
            PointsCredit(member_id=second.pk, amount=5, reason=reason, source_ref="run:1"),
            PointsCredit(member_id=first.pk, amount=10, reason=reason, source_ref="run:1"),
            PointsCredit(member_id=first.pk, amount=7, reason="Goodwill", source_ref="run:1"),
        ]
    )
    assert credited == [first.pk, second.pk]
    assert balances([first, second]) == {first.pk: 57, second.pk: 5}
    ledger = list(PointsEntry.objects.filter(account__member=first).order_by("id").values_list("amount", "balance_after", "reason_code"))
    assert ledger == [(40, 40, ""), (10, 50, "campaign"), (7, 57, "")]
    for member in (first, second):
        assert_books_balance(member)


def test_a_credit_with_an_idempotency_key_is_paid_once_however_often_it_comes():
    first, second = MemberFactory(), MemberFactory()
    credits = [
        PointsCredit(member_id=first.pk, amount=10, reason="Bonus", idempotency_key="step:1:member:1"),
        PointsCredit(member_id=first.pk, amount=10, reason="Bonus", idempotency_key="step:1:member:1"),
        PointsCredit(member_id=second.pk, amount=5, reason="Bonus", idempotency_key="step:1:member:2"),
    ]
    assert services.points_credit_many(credits=credits) == [first.pk, second.pk]
    # Again, with one new credit: only the new one is paid.
    again = [*credits, PointsCredit(member_id=second.pk, amount=5, reason="Bonus", idempotency_key="step:2:member:2")]
    assert services.points_credit_many(credits=again) == [second.pk]
    assert balances([first, second]) == {first.pk: 10, second.pk: 10}
    for member in (first, second):
        assert_books_balance(member)


def test_points_earn_bulk_with_a_once_key_pays_each_member_once():
    members = MemberFactory.create_batch(3)
    ids = [member.pk for member in members]
    assert services.points_earn_bulk(member_ids=ids[:2], amount=4, reason="Bonus", once_key="journey:1:step:2:entry:1") == 2
    assert services.points_earn_bulk(member_ids=ids, amount=4, reason="Bonus", once_key="journey:1:step:2:entry:1") == 1
    assert balances(members) == dict.fromkeys(ids, 4)
    keys = set(PointsEntry.objects.filter(account__member__in=members).values_list("idempotency_key", flat=True))
    assert keys == {f"journey:1:step:2:entry:1:member:{pk}" for pk in ids}


def test_an_over_long_once_key_is_refused_before_anything_is_written():
    member = MemberFactory()
    with pytest.raises(ApplicationError) as error:
        services.points_earn_bulk(member_ids=[member.pk], amount=4, reason="Bonus", once_key="k" * 128)
    assert error.value.code == "invalid_key"
    assert not PointsEntry.objects.filter(account__member=member).exists()


def test_the_database_refuses_a_second_row_with_the_same_key_and_a_changed_key():
    member = MemberFactory()
    services.points_credit_many(credits=[PointsCredit(member_id=member.pk, amount=3, reason="Bonus", idempotency_key="once")])
    entry = PointsEntry.objects.get(account__member=member)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.create(account=entry.account, kind="earn", amount=3, balance_after=6, reason="Bonus", idempotency_key="once")
    # The owner is stopped by the append-only trigger; the application's role has no right to try.
    with pytest.raises(ProgrammingError if APP_ROLE_MODE else IntegrityError), transaction.atomic():
        PointsEntry.objects.filter(pk=entry.pk).update(idempotency_key="other")
    assert PointsEntry.objects.get(pk=entry.pk).idempotency_key == "once"


def test_the_single_path_continues_where_the_set_based_path_left_the_account():
    member = MemberFactory()
    services.points_credit_many(credits=[PointsCredit(member_id=member.pk, amount=30, reason="Welcome")])
    entry = services.points_spend(member=member, amount=12, reason="Mall")
    assert (entry.amount, entry.balance_after, entry.account.member_id) == (-12, 18, member.pk)
    assert PointsEntry.objects.get(pk=entry.pk).balance_after == 18
    assert_books_balance(member)


def test_each_credit_opens_a_lot_with_its_expiry_and_the_expiry_job_closes_it():
    member, other = MemberFactory(), MemberFactory()
    soon = timezone.now() + timedelta(days=3)
    services.points_credit_many(
        credits=[
            PointsCredit(member_id=member.pk, amount=20, reason="Trial", expires_at=soon),
            PointsCredit(member_id=other.pk, amount=9, reason="Trial"),
        ]
    )
    lot = PointsLot.objects.get(account__member=member)
    assert (lot.amount, lot.remaining, lot.expires_at) == (20, 20, soon)
    assert PointsEntry.objects.get(account__member=member).expires_at == soon
    default_expiry = PointsLot.objects.get(account__member=other).expires_at
    expected = timezone.now() + timedelta(days=settings.USEROPS["POINTS_VALIDITY_DAYS"])
    assert abs(default_expiry - expected) < timedelta(minutes=5)
    assert services.points_expire_due(now=soon + timedelta(seconds=1)) == 20
    assert balances([member, other]) == {member.pk: 0, other.pk: 9}
    assert_books_balance(member)
    assert_books_balance(other)


def test_a_member_who_is_not_active_refuses_the_whole_set_and_nothing_is_written():
    active, frozen = MemberFactory(), MemberFactory()
    services.member_freeze(member=frozen, reason="check")
    credits = [PointsCredit(member_id=member.pk, amount=10, reason="Bonus") for member in (active, frozen)]
    with pytest.raises(ApplicationError) as error:
        services.points_credit_many(credits=credits)
    assert (error.value.code, error.value.fields) == ("member_frozen", {"member_id": frozen.pk})
    assert not PointsEntry.objects.exists()
    assert balances([active, frozen]) == {active.pk: 0, frozen.pk: 0}


def test_skipping_leaves_out_members_who_are_not_active_or_unknown():
    active, closed = MemberFactory(), MemberFactory(status=MemberStatus.CLOSED)
    unknown_id = closed.pk + 1000
    credits = [PointsCredit(member_id=member_id, amount=10, reason="Bonus") for member_id in (active.pk, closed.pk, unknown_id)]
    assert services.points_credit_many(credits=credits, skip_inactive=True) == [active.pk]
    assert balances([active, closed]) == {active.pk: 10, closed.pk: 0}
    with pytest.raises(ApplicationError) as error:
        services.points_credit_many(credits=[PointsCredit(member_id=unknown_id, amount=1, reason="Bonus")])
    assert (error.value.code, error.value.fields) == ("unknown_member", {"member_id": unknown_id})


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 0}, "invalid_amount"),
        ({"amount": True}, "invalid_amount"),
        ({"amount": services.MAX_POINTS_PER_OPERATION + 1}, "invalid_amount"),
        ({"kind": PointsEntryKind.SPEND}, "invalid_kind"),
        ({"reason": "  "}, "reason_required"),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "invalid_expiry"),
        ({"source_ref": "call 13800138000"}, "personal_data_in_text"),
    ],
)
def test_a_bad_credit_refuses_the_whole_set(change, code):
    member, other = MemberFactory(phone="+8613800138000"), MemberFactory()
    good = PointsCredit(member_id=other.pk, amount=5, reason="Bonus")
    bad = PointsCredit(**{"member_id": member.pk, "amount": 5, "reason": "Bonus", **change})
    with pytest.raises(ApplicationError) as error:
        services.points_credit_many(credits=[good, bad])
    assert error.value.code == code
    assert not PointsEntry.objects.exists()


def test_a_large_set_goes_in_with_copy_and_keeps_the_books():
    members = MemberFactory.create_batch(COPY_FROM_ROWS + 5)
    credited = services.points_earn_bulk(member_ids=[member.pk for member in members], amount=3, reason=Reason("referral_reward"))
    assert credited == len(members)
    assert set(balances(members).values()) == {3}
    assert PointsLot.objects.filter(account__member__in=members, remaining=3).count() == len(members)
    services.points_spend(member=members[0], amount=2, reason="Mall")
    for member in members[:3]:
        assert_books_balance(member)


def test_points_earn_bulk_checks_its_arguments_even_for_no_members():
    with pytest.raises(ApplicationError) as error:
        services.points_earn_bulk(member_ids=[], amount=0, reason="Bonus")
    assert error.value.code == "invalid_amount"
    assert services.points_earn_bulk(member_ids=[], amount=1, reason="Bonus") == 0


def test_an_import_opens_accounts_balances_and_tier_history_through_the_ledger_and_the_tiers_module():
    records = [
        MemberRecord(row_number=2, name="Wang", phone="+8613900000001", points=120),
        MemberRecord(row_number=3, name="Li", external_id="L-3", tier_id=tier("silver").pk),
    ]
    assert members_bulk_upsert(records=records).created == 2
    wang, li = Member.objects.get(phone="+8613900000001"), Member.objects.get(external_id="L-3")
    entry = PointsEntry.objects.get(account__member=wang)
    assert (entry.kind, entry.amount, entry.balance_after, entry.reason_code, entry.source_ref) == (
        PointsEntryKind.MIGRATE,
        120,
        120,
        "opening_balance_import",
        "import:row:2",
    )
    assert balances([wang, li]) == {wang.pk: 120, li.pk: 0}
    assert_books_balance(wang)
    assert list(
        TierChange.objects.filter(member__in=[wang, li]).order_by("member_id").values_list("kind", "reason_code", "to_tier__code")
    ) == [
        (TierChangeKind.INITIAL, "imported", "basic"),
        (TierChangeKind.INITIAL, "imported_with_tier", "silver"),
    ]
    assert wang.history.get().history_type == "+"
    assert members_bulk_upsert(records=records).created == 0
    assert PointsEntry.objects.filter(account__member=wang).count() == 1


def test_opening_credits_go_to_the_accounts_being_opened_and_nowhere_else():
    member = MemberFactory(account=None)
    stranger = MemberFactory()
    with pytest.raises(ApplicationError) as error:
        services.points_accounts_open(
            owners=[owner(member)], now=timezone.now(), opening=[PointsCredit(member_id=stranger.pk, amount=5, reason="Opening")]
        )
    assert (error.value.code, error.value.fields) == ("unknown_member", {"member_id": stranger.pk})
    opening = [PointsCredit(member_id=member.pk, amount=amount, reason="Opening", kind=PointsEntryKind.MIGRATE) for amount in (30, 12)]
    services.points_accounts_open(owners=[owner(member)], now=timezone.now(), opening=opening)
    assert list(PointsEntry.objects.filter(account__member=member).order_by("id").values_list("amount", "balance_after")) == [
        (30, 30),
        (12, 42),
    ]
    assert_books_balance(member)


def test_earn_and_spend_take_the_member_s_id_alone():
    member = MemberFactory()
    services.points_earn(member=member.pk, amount=80, reason="Purchase")
    services.points_spend(member=member.pk, amount=30, reason="Mall")
    assert PointsAccount.objects.get(member=member).balance == 50
    assert_books_balance(member)


@pytest.mark.parametrize("operation", [services.points_earn, services.points_spend])
def test_an_unknown_member_id_is_not_found_and_nothing_is_written(operation):
    unknown = (Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    with pytest.raises(ApplicationError) as refused:
        operation(member=unknown, amount=10, reason="Purchase")
    assert (refused.value.code, refused.value.http_status, refused.value.message) == ("not_found", 404, "No such member.")
    assert not PointsEntry.objects.exists()


@pytest.mark.parametrize("operation", [services.points_earn, services.points_spend])
def test_a_member_who_is_not_active_is_refused_by_id_too(operation):
    member = MemberFactory(status=MemberStatus.FROZEN)
    with pytest.raises(ApplicationError) as refused:
        operation(member=member.pk, amount=10, reason="Purchase")
    assert refused.value.code == "member_frozen" and refused.value.http_status == 409
    assert not PointsEntry.objects.filter(account__member=member).exists()


def _other_connection() -> psycopg.Connection:
    database = connection.settings_dict
    return psycopg.connect(
        dbname=database["NAME"],
        host=database["HOST"],
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"],
        autocommit=True,
    )


def test_locking_many_accounts_reads_them_in_key_order_with_what_the_ledger_needs():
    first, second, frozen = MemberFactory(), MemberFactory(), MemberFactory(status=MemberStatus.FROZEN)
    services.points_earn(member=second, amount=30, reason="Purchase")
    accounts = lock_points_accounts(member_ids=iter([frozen.pk, second.pk, first.pk, second.pk]))
    assert [(a.member_id, a.balance, a.member.status, a.member.phone) for a in accounts] == [
        (first.pk, 0, MemberStatus.ACTIVE, first.phone),
        (second.pk, 30, MemberStatus.ACTIVE, second.phone),
        (frozen.pk, 0, MemberStatus.FROZEN, frozen.phone),
    ]
    assert accounts == sorted(accounts, key=lambda account: account.pk)
    assert lock_points_accounts(member_ids=[]) == []


def test_locked_accounts_are_partial_instances_like_the_orm_s():
    """They are made without ``Model.__init__``: what it would have run must not be needed."""
    member = MemberFactory(name="王芳")
    (account,) = lock_points_accounts(member_ids=[member.pk])
    assert not any(signal.has_listeners(model) for signal in (pre_init, post_init) for model in (PointsAccount, Member))
    assert (account.pk, account.member.pk, account.member.name, account.member.get_status_display()) == (
        member.points_account.pk,
        member.pk,
        "王芳",
        MemberStatus.ACTIVE.label,
    )
    assert account.get_deferred_fields() == {"updated_at"} and account.updated_at is not None  # read on first use
    assert account.member.tier_id == member.tier_id
    account.balance = 5
    account.save(update_fields=["balance"])
    assert PointsAccount.objects.get(pk=account.pk).balance == 5


@pytest.mark.django_db(transaction=True)
def test_locking_many_accounts_holds_accounts_and_member_status_but_not_rows_that_point_at_the_member():
    member = MemberFactory()
    with transaction.atomic(), _other_connection() as other:
        lock_points_accounts(member_ids=[member.pk])
        # An action row, grant or message for this member (a key-share) goes in at once …
        other.execute("SELECT id FROM members_member WHERE id = %s FOR KEY SHARE NOWAIT", [member.pk])
        # … while the account, and any change of the member's row, wait for the lock holder.
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("SELECT id FROM members_pointsaccount WHERE member_id = %s FOR UPDATE NOWAIT", [member.pk])
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("SELECT id FROM members_member WHERE id = %s FOR NO KEY UPDATE NOWAIT", [member.pk])


def test_checking_a_reason_with_many_digits_reads_no_member_row_again():
    """A reason that could hold a phone number is checked on every row, from what the lock already read."""

    def queries_to_credit(count: int) -> int:
        members = MemberFactory.create_batch(count)
        with CaptureQueriesContext(connection) as queries:
            services.points_earn_bulk(
                member_ids=[m.pk for m in members], amount=5, reason=Reason("campaign", {"name": "Order 2026111199 88"})
            )
        return len(queries)

    queries_to_credit(1)  # the shared cache of subscribed webhook types is warm, as in a running system
    assert queries_to_credit(2) == queries_to_credit(6)
