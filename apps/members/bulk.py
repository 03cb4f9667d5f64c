"""Set-based enrolment and update of many members at once (imports), with what ``member_enrol`` promises:
a tier and its history row, a points account, and an opening balance written to the ledger as a lot."""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from apps.members.models import (
    Gender,
    Member,
    PointsAccount,
    PointsEntry,
    PointsEntryKind,
    PointsLot,
    SourceChannel,
    TierChange,
    TierChangeKind,
)
from apps.members.services import default_points_expiry, lowest_tier

UPDATABLE = ("name", "email", "city", "gender", "birthday")


@dataclass
class MemberRecord:
    """One member as an import file describes it (already cleaned and validated)."""

    row_number: int
    name: str
    phone: str | None = None
    external_id: str | None = None
    email: str = ""
    city: str = ""
    joined_at: date | None = None
    tier_id: int | None = None
    points: int = 0
    gender: str = Gender.UNKNOWN
    birthday: date | None = None

    @property
    def identity(self) -> str:
        return f"ext:{self.external_id}" if self.external_id else f"phone:{self.phone}"


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: list[tuple[int, str, str]] = field(default_factory=list)


def _joined(record: MemberRecord, now: datetime) -> datetime:
    if record.joined_at is None:
        return now
    return timezone.make_aware(datetime.combine(record.joined_at, time(12, 0)))


def members_bulk_upsert(
    *, records: list[MemberRecord], source_channel: str = SourceChannel.IMPORT, now: datetime | None = None
) -> UpsertResult:
    """Match each record by external ID, else phone; create the new, update what changed, in one transaction.

    Re-running the same records changes nothing: opening balances are only written for members created here.
    """
    now = now or timezone.now()
    result = UpsertResult()
    with transaction.atomic():
        external_ids = [r.external_id for r in records if r.external_id]
        phones = [r.phone for r in records if r.phone]
        existing = list(Member.objects.select_for_update().filter(external_id__in=external_ids).order_by("pk")) + list(
            Member.objects.select_for_update().filter(phone__in=phones).order_by("pk")
        )
        by_external = {m.external_id: m for m in existing if m.external_id}
        by_phone = {m.phone: m for m in existing if m.phone}
        to_create: list[MemberRecord] = []
        to_update: dict[int, Member] = {}
        for record in records:
            member = by_external.get(record.external_id) if record.external_id else None
            phone_owner = by_phone.get(record.phone) if record.phone else None
            if member is None and phone_owner is not None:
                if record.external_id and phone_owner.external_id and phone_owner.external_id != record.external_id:
                    result.conflicts.append(
                        (record.row_number, "phone", _("this phone belongs to member %(id)s") % {"id": phone_owner.external_id})
                    )
                    continue
                member = phone_owner
            elif member is not None and phone_owner is not None and phone_owner.pk != member.pk:
                result.conflicts.append((record.row_number, "phone", _("this phone belongs to another member")))
                continue
            if member is None:
                to_create.append(record)
                continue
            changed = _apply(member, record)
            if changed:
                to_update[member.pk] = member
                result.updated += 1
            else:
                result.unchanged += 1
        if to_update:
            for member in to_update.values():
                member.updated_at = now
            bulk_update_with_history(list(to_update.values()), Member, [*UPDATABLE, "phone", "external_id", "updated_at"], batch_size=1000)
        if to_create:
            _create(to_create, source_channel, now)
            result.created = len(to_create)
    return result


def _apply(member: Member, record: MemberRecord) -> bool:
    changed = False
    wanted: dict[str, Any] = {
        "name": record.name,
        "email": record.email,
        "city": record.city,
        "gender": record.gender,
        "birthday": record.birthday,
    }
    for name, value in wanted.items():
        if value in ("", None, Gender.UNKNOWN) and getattr(member, name) not in ("", None):
            continue  # an empty cell never erases what the programme already knows
        if getattr(member, name) != value:
            setattr(member, name, value)
            changed = True
    if record.phone and not member.phone:
        member.phone, changed = record.phone, True
    if record.external_id and not member.external_id:
        member.external_id, changed = record.external_id, True
    return changed


def _create(records: list[MemberRecord], source_channel: str, now: datetime) -> None:
    default_tier = lowest_tier()
    members = [
        Member(
            name=r.name,
            phone=r.phone,
            external_id=r.external_id,
            email=r.email,
            city=r.city,
            gender=r.gender,
            birthday=r.birthday,
            source_channel=source_channel,
            joined_at=_joined(r, now),
            tier_id=r.tier_id or default_tier.pk,
            tier_achieved_at=now,
            created_at=now,
            updated_at=now,
        )
        for r in records
    ]
    members = bulk_create_with_history(members, Member, batch_size=1000)
    by_identity = {(f"ext:{m.external_id}" if m.external_id else f"phone:{m.phone}"): m for m in members}
    accounts = PointsAccount.objects.bulk_create(
        [PointsAccount(member=by_identity[r.identity], balance=r.points) for r in records], batch_size=1000
    )
    TierChange.objects.bulk_create(
        [
            TierChange(
                member=by_identity[r.identity],
                kind=TierChangeKind.INITIAL,
                to_tier_id=r.tier_id or default_tier.pk,
                growth_value=0,
                reason=_("Imported") if r.tier_id is None else _("Imported with tier from the previous programme"),
                created_at=now,
            )
            for r in records
        ],
        batch_size=1000,
    )
    account_of = {account.member_id: account for account in accounts}
    opening = [(r, account_of[by_identity[r.identity].pk]) for r in records if r.points > 0]
    if not opening:
        return
    expires_at = default_points_expiry(now)
    entries = PointsEntry.objects.bulk_create(
        [
            PointsEntry(
                account=account,
                kind=PointsEntryKind.MIGRATE,
                amount=r.points,
                balance_after=r.points,
                reason=_("Opening balance from import"),
                source_ref=f"import:row:{r.row_number}",
                expires_at=expires_at,
                created_at=now,
            )
            for r, account in opening
        ],
        batch_size=1000,
    )
    PointsLot.objects.bulk_create(
        [PointsLot(account_id=e.account_id, entry=e, amount=e.amount, remaining=e.amount, expires_at=expires_at) for e in entries],
        batch_size=1000,
    )
