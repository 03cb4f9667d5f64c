"""Free text in the ledger never names the member; legacy rows are redacted only through the controlled path."""

import pytest
from django.db import IntegrityError, connection, transaction

from apps.core.errors import ApplicationError
from apps.core.models import AccessAction, AccessLogEntry, ApiScope, IdempotencyRecord
from apps.core.roles import OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import GrowthEntry, Member, PointsEntry, PointsEntryKind
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member() -> Member:
    return MemberFactory(name="欧阳晓梅", phone="+8613987654321", email="xiaomei@example.net")


@pytest.mark.parametrize(
    ("reason", "source_ref"),
    [
        ("called from 139 8765 4321", ""),
        ("Purchase", "+86-139-8765-4321"),
        ("mail from XiaoMei@Example.net", ""),
    ],
)
def test_points_and_growth_refuse_the_members_phone_or_email_in_free_text(member, reason, source_ref):
    for write in (
        lambda: services.points_earn(member=member, amount=10, reason=reason, source_ref=source_ref),
        lambda: services.growth_add(member=member, amount=10, reason=reason, source_ref=source_ref),
    ):
        with pytest.raises(ApplicationError) as refused:
            write()
        assert refused.value.code == "personal_data_in_text"
    assert not PointsEntry.objects.filter(account__member=member).exists()
    assert not GrowthEntry.objects.filter(member=member).exists()
    member.points_account.refresh_from_db()
    assert member.points_account.balance == 0


def test_points_api_answers_400_naming_the_field(trusted_client, member):
    api, _client = trusted_client([ApiScope.POINTS_WRITE])
    response = api.post(
        f"/api/v1/members/{member.pk}/points/earn/",
        {"amount": 10, "reason": "Purchase", "source_ref": "order-13987654321"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "personal_data_in_text"


def test_ledger_rows_change_only_through_the_redaction_switch_and_only_their_text(member):
    entry = services.points_earn(member=member, amount=100, reason="Purchase")
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('userops.ledger_redaction', 'on', true)")
        PointsEntry.objects.filter(pk=entry.pk).update(amount=999, reason="edited")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('userops.ledger_redaction', 'on', true)")
        PointsEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert (entry.amount, entry.reason) == (100, "Purchase")


def test_anonymisation_redacts_legacy_ledger_text_audited(member, staff):
    services.points_earn(member=member, amount=100, reason="Purchase", source_ref="order-1")
    account = member.points_account
    account.refresh_from_db()
    legacy = PointsEntry.objects.create(
        account=account, kind=PointsEntryKind.EARN, amount=5, balance_after=105, reason="call 欧阳晓梅 on +8613987654321", source_ref=""
    )
    other_members_row = services.points_earn(member=MemberFactory(), amount=1, reason="Purchase")
    actor = staff(OPERATIONS_MANAGER)
    services.member_anonymise(member=member, reason="Deletion request", actor=actor)
    legacy.refresh_from_db()
    assert (legacy.amount, legacy.balance_after, legacy.reason) == (5, 105, "call [redacted] on [redacted]")
    other_members_row.refresh_from_db()
    assert other_members_row.reason == "Purchase"
    [audit] = AccessLogEntry.objects.filter(action=AccessAction.ANONYMISE, object_type="members.pointsentry")
    assert (audit.user, audit.object_ids, audit.row_count) == (actor, str(legacy.pk), 1)
    # the switch is off again once the redaction is done
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.filter(pk=legacy.pk).update(reason="again")


def test_anonymisation_reason_may_not_name_the_member(member, staff):
    for reason in ("erase 欧阳晓梅", "erase 13987654321"):
        with pytest.raises(ApplicationError) as refused:
            services.member_anonymise(member=member, reason=reason, actor=staff(OPERATIONS_MANAGER))
        assert refused.value.code == "personal_data_in_text"
    assert Member.objects.get(pk=member.pk).anonymised_at is None


def test_a_replayed_enrolment_after_anonymisation_answers_without_the_personal_data(trusted_client, staff):
    api, _client = trusted_client([ApiScope.MEMBERS_WRITE, ApiScope.MEMBERS_READ])
    body = {"name": "欧阳晓梅", "phone": "13987654321", "email": "xiaomei@example.net"}
    first = api.post("/api/v1/members/", body, format="json", HTTP_IDEMPOTENCY_KEY="enrol")
    assert first.status_code == 201
    services.member_anonymise(member=Member.objects.get(pk=first.json()["id"]), reason="Deletion request", actor=staff(OPERATIONS_MANAGER))
    replay = api.post("/api/v1/members/", body, format="json", HTTP_IDEMPOTENCY_KEY="enrol")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert "13987654321" not in replay.content.decode() and "欧阳晓梅" not in replay.content.decode()
    assert IdempotencyRecord.objects.get(key="enrol").response_body == {"detail": "[redacted]"}
