"""Set-based enrolment and update of many members at once (imports), with what ``member_enrol`` promises:
a tier and its history row (through the tiers service), a points account, and an opening balance credited
through the ledger's set-based path as the accounts are opened (an entry and a lot per member)."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from apps.core.bulk_insert import allocate_ids, insert_rows
from apps.core.reasons import Reason
from apps.members.models import Gender, Member, PointsEntryKind, SourceChannel
from apps.members.services import (
    AccountOwner,
    PointsCredit,
    TierStart,
    lowest_tier,
    members_history_record_created,
    points_accounts_open,
    tier_history_start,
)

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
    joined_at: date | datetime | None = None  # a date, or a local time of day when the file gives one
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
    joined: list[tuple[int, datetime]] = field(default_factory=list)  # the members created, with their enrolment date


def _joined(record: MemberRecord, now: datetime) -> datetime:
    if record.joined_at is None:
        return now
    if isinstance(record.joined_at, datetime):
        return timezone.make_aware(record.joined_at) if timezone.is_naive(record.joined_at) else record.joined_at
    return _noon(record.joined_at, timezone.get_current_timezone())


@lru_cache(maxsize=4096)
def _noon(day: date, zone: tzinfo) -> datetime:
    """Noon of ``day`` in ``zone``; files repeat their join dates, and making a time aware costs more than a lookup."""
    return timezone.make_aware(datetime.combine(day, time(12, 0)), zone)


def members_bulk_upsert(
    *, records: list[MemberRecord], source_channel: str = SourceChannel.IMPORT, now: datetime | None = None
) -> UpsertResult:
    """Match each record by external ID, else phone; create the new, update what changed, in one transaction.

    Re-running the same records changes nothing: opening balances are only written for members created here.
    """
    now = now or timezone.now()
    result = UpsertResult()
    with transaction.atomic():
        existing = _locked_matches(
            external_ids=[r.external_id for r in records if r.external_id], phones=[r.phone for r in records if r.phone]
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
            result.joined = _create(to_create, source_channel, now)
            result.created = len(to_create)
    return result


def _locked_matches(*, external_ids: list[str], phones: list[str]) -> list[Member]:
    """The members the records may be (by external ID or by phone), each once, locked in primary-key order."""
    matches = Member.objects.select_for_update().order_by("pk")
    if connection.vendor == "postgresql":
        # Two array parameters instead of a placeholder per value: with thousands of values a chunk, building and
        # parsing the placeholders cost more than the lookup itself.
        return list(matches.extra(where=["external_id = ANY(%s) OR phone = ANY(%s)"], params=[external_ids, phones]))
    return list(matches.filter(Q(external_id__in=external_ids) | Q(phone__in=phones)))


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


def _create(records: list[MemberRecord], source_channel: str, now: datetime) -> list[tuple[int, datetime]]:
    default_tier_id = lowest_tier().pk
    member_ids = allocate_ids(Member, len(records))
    members = [
        {
            "id": member_id,
            "name": r.name,
            "phone": r.phone,
            "external_id": r.external_id,
            "email": r.email,
            "city": r.city,
            "gender": r.gender,
            "birthday": r.birthday,
            "source_channel": source_channel,
            "joined_at": _joined(r, now),
            "tier_id": r.tier_id or default_tier_id,
            "tier_achieved_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for member_id, r in zip(member_ids, records, strict=True)
    ]
    insert_rows(Member, members)
    members_history_record_created(members=members, now=now)
    opening_balance = Reason("opening_balance_import")
    points_accounts_open(
        owners=[AccountOwner(m["id"], m["phone"], m["email"], m["name"]) for m in members],
        now=now,
        opening=[
            PointsCredit(
                member_id=member_id,
                amount=r.points,
                reason=opening_balance,
                source_ref=f"import:row:{r.row_number}",
                kind=PointsEntryKind.MIGRATE,
            )
            for member_id, r in zip(member_ids, records, strict=True)
            if r.points > 0
        ],
    )
    imported, imported_with_tier = Reason("imported"), Reason("imported_with_tier")
    tier_history_start(
        starts=[
            TierStart(
                member_id=member_id, tier_id=r.tier_id or default_tier_id, reason=imported if r.tier_id is None else imported_with_tier
            )
            for member_id, r in zip(member_ids, records, strict=True)
        ],
        now=now,
    )
    return [(m["id"], m["joined_at"]) for m in members]
