"""Every change to members, tiers, growth value and points.

Locking rule (through ``apps.members.locks``): a function that changes both takes the ``Member`` row before the
``PointsAccount`` row, and several rows of one kind in primary-key order, so concurrent calls never deadlock. A staff
adjustment takes the staff member's ``User`` row (or the ``PointsAdjustment`` row it decides) before the account.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import AccessAction, ApiClient, User
from apps.core.reasons import Reason, reason_fields, translated_param
from apps.core.redaction import redact_text
from apps.core.services import access_log_record, personal_text_redact
from apps.members.locks import lock_member, lock_points_account, lock_points_accounts_by_id
from apps.members.models import (
    AdjustmentState,
    Consent,
    ConsentChannel,
    Gender,
    GrowthEntry,
    Member,
    MemberStatus,
    MemberToken,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsEntryKind,
    PointsLot,
    PointsLotUse,
    SourceChannel,
    Tag,
    Tier,
    TierChange,
    TierChangeKind,
)
from apps.members.personal_data import (
    MEMBER_ANONYMISERS,
    MEMBER_DATA_SECTIONS,
    PersonalValues,
    personal_values,
    redact_member_mentions,
    refuse_personal_data_in_text,
)
from apps.members.phones import normalize_phone
from apps.members.selectors import adjust_allowance_left

PROFILE_FIELDS = ("name", "phone", "email", "gender", "birthday", "city", "external_id")
MAX_POINTS_PER_OPERATION = 100_000_000


# Members ----------------------------------------------------------------------------------------


def _clean_profile(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()
        if not cleaned["name"]:
            raise ApplicationError("name_required", _("The member's name is required."), fields={"name": ""})
        if len(cleaned["name"]) > Member._meta.get_field("name").max_length:
            raise ApplicationError("name_too_long", _("The name is too long (at most 100 characters)."), fields={"name": cleaned["name"]})
    if cleaned.get("phone"):
        cleaned["phone"] = normalize_phone(cleaned["phone"])
    elif "phone" in cleaned:
        cleaned["phone"] = None
    if "external_id" in cleaned:
        cleaned["external_id"] = (cleaned["external_id"] or "").strip() or None
    if "email" in cleaned:
        cleaned["email"] = (cleaned["email"] or "").strip().lower()
    if "city" in cleaned:
        cleaned["city"] = (cleaned["city"] or "").strip()
    if "gender" in cleaned and cleaned["gender"] not in Gender.values:
        raise ApplicationError("invalid_gender", _("Unknown gender."), fields={"gender": cleaned["gender"]})
    if cleaned.get("birthday") and cleaned["birthday"] > timezone.localdate():
        raise ApplicationError("invalid_birthday", _("The birthday is in the future."), fields={"birthday": str(cleaned["birthday"])})
    return cleaned


def member_check_unique(*, phone: str | None, external_id: str | None, exclude_pk: int | None = None) -> None:
    """Raise a specific error when another member already has this phone or external ID."""
    others = Member.objects.exclude(pk=exclude_pk) if exclude_pk else Member.objects.all()
    if phone and others.filter(phone=phone).exists():
        raise ApplicationError(
            "duplicate_phone", _("Another member already has this mobile phone number."), fields={"phone": phone}, http_status=409
        )
    if external_id and others.filter(external_id=external_id).exists():
        raise ApplicationError(
            "duplicate_external_id", _("Another member already has this external ID."), fields={"external_id": external_id}, http_status=409
        )


def _save_unique(member: Member, **save_kwargs: Any) -> None:
    try:
        with transaction.atomic():
            member.save(**save_kwargs)
    except IntegrityError as exc:
        # A concurrent writer took the phone or external ID between our check and our write.
        member_check_unique(phone=member.phone, external_id=member.external_id, exclude_pk=member.pk)
        raise ApplicationError("conflict", _("The member could not be saved; retry.")) from exc


def lowest_tier() -> Tier:
    tier = Tier.objects.order_by("rank").first()
    if tier is None:
        raise ApplicationError("no_tiers", _("No tiers are configured."))
    return tier


@transaction.atomic
def member_enrol(
    *,
    name: str,
    phone: str | None = None,
    external_id: str | None = None,
    email: str = "",
    gender: str = Gender.UNKNOWN,
    birthday: date | None = None,
    city: str = "",
    source_channel: str = SourceChannel.APP,
    joined_at: datetime | None = None,
    tags: Iterable[str] = (),
    consents: dict[str, bool] | None = None,
    actor: User | None = None,
) -> Member:
    """Enrol a member at the lowest tier with an empty points account."""
    fields = _clean_profile(
        {"name": name, "phone": phone, "external_id": external_id, "email": email, "gender": gender, "birthday": birthday, "city": city}
    )
    if not fields["phone"] and not fields["external_id"]:
        raise ApplicationError("identity_required", _("A member needs a mobile phone number or an external ID."), fields={"phone": None})
    if source_channel not in SourceChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown source channel."), fields={"source_channel": source_channel})
    member_check_unique(phone=fields["phone"], external_id=fields["external_id"])
    now = timezone.now()
    tier = lowest_tier()
    member = Member(**fields, source_channel=source_channel, joined_at=joined_at or now, tier=tier, tier_achieved_at=now)
    member._history_user = actor
    _save_unique(member, force_insert=True)
    PointsAccount.objects.create(member=member)
    TierChange.objects.create(
        member=member, kind=TierChangeKind.INITIAL, to_tier=tier, growth_value=0, actor=actor, **reason_fields(Reason("enrolment"))
    )
    if tags:
        member.tags.set(_tags_by_name(tags))
    for channel, granted in (consents or {}).items():
        member_set_consent(member=member, channel=channel, granted=granted, source="enrolment")
    return member


def _tags_by_name(names: Iterable[str]) -> list[Tag]:
    tags = []
    for raw in names:
        name = raw.strip()
        if name:
            tags.append(Tag.objects.get_or_create(name=name)[0])
    return tags


@transaction.atomic
def member_update_profile(*, member: Member, actor: User | None = None, tags: Iterable[str] | None = None, **changes: Any) -> Member:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ApplicationError(
            "invalid_field", _("These fields cannot be changed here: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    member = lock_member(member_id=member.pk)
    cleaned = _clean_profile(changes)
    new_phone = cleaned.get("phone", member.phone)
    new_external_id = cleaned.get("external_id", member.external_id)
    if not new_phone and not new_external_id:
        raise ApplicationError("identity_required", _("A member needs a mobile phone number or an external ID."), fields={"phone": None})
    member_check_unique(phone=new_phone, external_id=new_external_id, exclude_pk=member.pk)
    changed = [field for field, value in cleaned.items() if getattr(member, field) != value]
    for field in changed:
        setattr(member, field, cleaned[field])
    if changed:
        member._history_user = actor
        _save_unique(member, update_fields=[*changed, "updated_at"])
    if tags is not None:
        member.tags.set(_tags_by_name(tags))
    return member


@transaction.atomic
def member_set_consent(
    *, member: Member, channel: str, granted: bool, source: str = "", actor: User | None = None, reason: str = ""
) -> Consent:
    if channel not in ConsentChannel.values:
        raise ApplicationError(
            "invalid_channel", _("Unknown consent channel: %(channel)s") % {"channel": channel}, fields={"channel": channel}
        )
    consent = Consent.objects.select_for_update().filter(member=member, channel=channel).first()
    if consent is None:
        consent = Consent(member=member, channel=channel, granted=granted, source=source, changed_at=timezone.now())
        consent._history_user = actor
        consent._change_reason = reason[:100]
        consent.save(force_insert=True)
        return consent
    if consent.granted != granted:
        consent.granted = granted
        consent.source = source
        consent.changed_at = timezone.now()
        consent._history_user = actor
        consent._change_reason = reason[:100]
        consent.save(update_fields=["granted", "source", "changed_at"])
    return consent


@transaction.atomic
def member_withdraw_all_consents(*, member: Member, source: str, actor: User | None = None, reason: str = "") -> list[Consent]:
    """Withdraw marketing consent on every channel in one step; every campaign and the outbox check consent when they act."""
    lock_member(member_id=member.pk)
    return [
        member_set_consent(member=member, channel=channel, granted=False, source=source, actor=actor, reason=reason)
        for channel in ConsentChannel.values
    ]


def _member_transition(*, member: Member, allowed_from: set[str], to: str, reason: str, actor: User | None) -> Member:
    if not (reason or "").strip():
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": ""})
    member = lock_member(member_id=member.pk)
    if member.status not in allowed_from:
        raise ApplicationError(
            "invalid_status",
            _("The member is %(status)s; this is not possible.") % {"status": member.get_status_display()},
            http_status=409,
        )
    member.status = to
    member.status_reason = reason.strip()
    member._history_user = actor
    member.save(update_fields=["status", "status_reason", "updated_at"])
    return member


@transaction.atomic
def member_freeze(*, member: Member, reason: str, actor: User | None = None) -> Member:
    return _member_transition(member=member, allowed_from={MemberStatus.ACTIVE}, to=MemberStatus.FROZEN, reason=reason, actor=actor)


@transaction.atomic
def member_unfreeze(*, member: Member, reason: str, actor: User | None = None) -> Member:
    return _member_transition(member=member, allowed_from={MemberStatus.FROZEN}, to=MemberStatus.ACTIVE, reason=reason, actor=actor)


@transaction.atomic
def member_close(*, member: Member, reason: str, actor: User | None = None) -> Member:
    member = _member_transition(
        member=member, allowed_from={MemberStatus.ACTIVE, MemberStatus.FROZEN}, to=MemberStatus.CLOSED, reason=reason, actor=actor
    )
    MemberToken.objects.filter(member=member, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return member


# Personal data rights (PIPL) ----------------------------------------------------------------------

MEMBER_DATA_FORMAT = "userops.member-data/1"
ANONYMISED_NAME = "anonymised-{pk}"
ANONYMISED_FIELDS = {"phone": None, "email": "", "birthday": None, "city": "", "external_id": None, "gender": Gender.UNKNOWN}


def _rows(queryset: Any, *fields: str) -> list[dict[str, Any]]:
    return list(queryset.values(*fields))


def member_data_export(*, member: Member) -> dict[str, Any]:
    """Everything UserOps holds about the member, machine-readable (JSON-safe), for a PIPL access request.

    Staff identities are left out (who served the member is the brand's data, not the member's).
    """
    member = Member.objects.select_related("tier", "points_account").prefetch_related("tags").get(pk=member.pk)
    account = member.points_account
    data: dict[str, Any] = {
        "format": MEMBER_DATA_FORMAT,
        "generated_at": timezone.now(),
        "member": {
            "id": member.pk,
            "external_id": member.external_id,
            "name": member.name,
            "phone": member.phone,
            "email": member.email,
            "gender": member.gender,
            "birthday": member.birthday,
            "city": member.city,
            "source_channel": member.source_channel,
            "status": member.status,
            "status_reason": member.status_reason,
            "joined_at": member.joined_at,
            "tier": member.tier.code,
            "tier_reached_at": member.tier_achieved_at,
            "growth_value": member.growth_value,
            "tags": sorted(tag.name for tag in member.tags.all()),
            "anonymised_at": member.anonymised_at,
        },
        "consents": _rows(member.consents.order_by("channel"), "channel", "granted", "changed_at", "source"),
        "consent_history": _rows(
            Consent.history.filter(member_id=member.pk).order_by("history_date", "history_id"),
            "channel",
            "granted",
            "source",
            "changed_at",
            "history_date",
            "history_type",
        ),
        "points": {
            "balance": account.balance,
            "ledger": _rows(
                account.entries.order_by("created_at", "id"),
                "id",
                "kind",
                "amount",
                "balance_after",
                "reason",
                "source_ref",
                "expires_at",
                "reverses_id",
                "created_at",
            ),
        },
        "growth": _rows(member.growth_entries.order_by("created_at", "id"), "amount", "reason", "source_ref", "created_at"),
        "tier_changes": _rows(
            member.tier_changes.order_by("created_at", "id"),
            "kind",
            "from_tier__code",
            "to_tier__code",
            "growth_value",
            "reason",
            "created_at",
        ),
    }
    for section in MEMBER_DATA_SECTIONS:
        data[section.name] = section.collect(member)
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False))


@transaction.atomic
def member_anonymise(*, member: Member, reason: str, actor: User | None = None) -> Member:
    """A deletion request: personal fields replaced by placeholders for good, consents withdrawn, the member closed.

    The points ledger, tier changes, grants, registrations and analytics rows stay (they are the brand's books
    and still reconcile); they point at a member nobody can identify any more. Past versions in the audit
    trail are scrubbed too. Who asked and why is kept on the member and in its history.
    """
    if not (reason or "").strip():
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": ""})
    member = lock_member(member_id=member.pk)
    if member.anonymised_at is not None:
        raise ApplicationError("already_anonymised", _("The member was already anonymised."), http_status=409)
    values = personal_values(member)
    # The reason is kept (member, history, access log): it must not name the person it erases.
    if values.phone_or_email_in(reason) or (values.name and values.name in reason):
        raise ApplicationError(
            "personal_data_in_text",
            _("The reason must not contain the member's name, phone number or email address."),
            fields={"reason": ""},
        )
    member_withdraw_all_consents(member=member, source="anonymisation", actor=actor, reason=reason)
    # Other apps' anonymisers run while the member's values are still there to be searched for.
    for anonymise in MEMBER_ANONYMISERS:
        anonymise(member)
    redacted = _member_text_redact(member=member, values=values)
    scrubbed = {**ANONYMISED_FIELDS, "name": ANONYMISED_NAME.format(pk=member.pk)}
    for field, value in scrubbed.items():
        setattr(member, field, value)
    member.status = MemberStatus.CLOSED
    member.status_reason = reason.strip()[:255]
    member.anonymised_at = timezone.now()
    member._history_user = actor
    member._change_reason = reason.strip()[:100]
    member.save()
    member.history.update(**scrubbed)
    MemberToken.objects.filter(member=member, revoked_at__isnull=True).update(revoked_at=timezone.now())
    LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Member), object_id=str(member.pk)).update(
        object_repr=member.name
    )
    if redacted:
        access_log_record(
            action=AccessAction.ANONYMISE,
            user=actor,
            object_type="members.pointsentry",
            object_id=member.pk,
            row_count=len(redacted),
            object_ids=redacted,
            detail="ledger free text redacted",
        )
    return member


def _member_text_redact(*, member: Member, values: PersonalValues) -> list[int]:
    """Free text written before it was checked: the member's identifiers out of every row, the name out of their own.

    Returns the IDs of the ledger rows changed (they are recorded in the access log).
    """
    redact_member_mentions(member, GrowthEntry.objects.all(), fields=["reason", "source_ref"])
    redact_member_mentions(member, TierChange.objects.all(), fields=["reason"])
    redact_member_mentions(member, Member.history.all(), fields=["status_reason"], owner="id")
    redact_text(LogEntry.objects.all(), fields=["object_repr", "change_message"], texts=values.identifiers())
    personal_text_redact(texts=values.all_texts(), member_scope=f"member:{member.pk}")
    return ledger_text_redact(member=member, values=values)


def ledger_text_redact(*, member: Member, values: PersonalValues) -> list[int]:
    """The one path that changes ledger rows: ``reason`` and ``source_ref`` only, identifiers replaced by a marker.

    The database trigger lets an UPDATE through only inside this transaction's redaction switch and only when
    no other column changes; amounts, balances and dates stay as they were, so the ledger still reconciles.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('userops.ledger_redaction', 'on', true)")
        try:
            ids = redact_text(PointsEntry.objects.all(), fields=["reason", "source_ref"], texts=values.identifiers())
            ids += redact_text(PointsEntry.objects.filter(account__member=member), fields=["reason", "source_ref"], texts=[values.name])
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT set_config('userops.ledger_redaction', 'off', true)")
    return sorted(set(ids))


# Member tokens ----------------------------------------------------------------------------------


def member_token_issue(*, member: Member, client: ApiClient, ttl: timedelta | None = None) -> tuple[MemberToken, str]:
    """Issue a short-lived token for the member app, after the brand's own login of this member; ``ttl`` defaults to
    ``MEMBER_TOKEN_TTL``."""
    if member.status == MemberStatus.CLOSED:
        raise ApplicationError("member_closed", _("The member's account is closed."), http_status=409)
    raw, token_hash = MemberToken.generate()
    now = timezone.now()
    token = MemberToken.objects.create(
        member=member, client=client, token_hash=token_hash, created_at=now, expires_at=now + (ttl or settings.USEROPS["MEMBER_TOKEN_TTL"])
    )
    return token, raw


def member_tokens_revoke(*, member: Member, token: MemberToken | None = None) -> int:
    """Revoke one token, or every live token of the member."""
    tokens = MemberToken.objects.filter(member=member, revoked_at__isnull=True)
    if token is not None:
        tokens = tokens.filter(pk=token.pk)
    return tokens.update(revoked_at=timezone.now())


# Points -----------------------------------------------------------------------------------------


def _positive_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ApplicationError("invalid_amount", _("Points must be a whole number."), fields={"amount": amount})
    if amount <= 0:
        raise ApplicationError("invalid_amount", _("Points must be more than zero."), fields={"amount": amount})
    if amount > MAX_POINTS_PER_OPERATION:
        raise ApplicationError("invalid_amount", _("Too many points for one operation."), fields={"amount": amount})
    return amount


def _reason(reason: str | Reason) -> dict[str, Any]:
    """The reason columns of a ledger row: a system reason's code and parameters, or the text staff typed."""
    if isinstance(reason, Reason):
        return reason_fields(reason)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": ""})
    return reason_fields(reason)


def _lock_account(member: Member) -> PointsAccount:
    return lock_points_account(member_id=member.pk)


def _require_status(member: Member, allowed: set[str]) -> None:
    if member.status not in allowed:
        code = "member_frozen" if member.status == MemberStatus.FROZEN else "member_closed"
        raise ApplicationError(code, _("The member's account is %(status)s.") % {"status": member.get_status_display()}, http_status=409)


def default_points_expiry(now: datetime) -> datetime:
    return now + timedelta(days=settings.USEROPS["POINTS_VALIDITY_DAYS"])


@dataclass(frozen=True)
class _Debit:
    entry: PointsEntry
    uses: list[PointsLotUse]


def _append(account: PointsAccount, *, kind: str, amount: int, now: datetime, **fields: Any) -> PointsEntry:
    # The ledger cannot be edited later, so what would identify the member is refused before it is written.
    refuse_personal_data_in_text(account.member, reason=fields.get("reason", ""), source_ref=fields.get("source_ref", ""))
    account.balance += amount
    entry = PointsEntry.objects.create(account=account, kind=kind, amount=amount, balance_after=account.balance, created_at=now, **fields)
    account.save(update_fields=["balance", "updated_at"])
    return entry


def _credit(account: PointsAccount, *, kind: str, amount: int, expires_at: datetime | None, now: datetime, **fields: Any) -> PointsEntry:
    entry = _append(account, kind=kind, amount=amount, now=now, expires_at=expires_at, **fields)
    PointsLot.objects.create(account=account, entry=entry, amount=amount, remaining=amount, expires_at=expires_at)
    return entry


def _debit(
    account: PointsAccount, *, kind: str, amount: int, now: datetime, first_lot: PointsLot | None = None, **fields: Any
) -> PointsEntry:
    """Take ``amount`` from the account's lots, earliest expiry first (or ``first_lot`` first)."""
    _expire_due_lots([account], now=now)
    if amount > account.balance:
        raise ApplicationError(
            "insufficient_points",
            _("Not enough points: the balance is %(balance)d, %(amount)d were asked for.") % {"balance": account.balance, "amount": amount},
            http_status=409,
            extra={"balance": account.balance},
        )
    lots = list(PointsLot.objects.filter(account=account, remaining__gt=0).order_by(F("expires_at").asc(nulls_last=True), "id"))
    if first_lot is not None:
        lots.sort(key=lambda lot: lot.pk != first_lot.pk)
    entry = _append(account, kind=kind, amount=-amount, now=now, **fields)
    uses, still_needed = [], amount
    for lot in lots:
        if not still_needed:
            break
        taken = min(lot.remaining, still_needed)
        lot.remaining -= taken
        still_needed -= taken
        uses.append(PointsLotUse(entry=entry, lot=lot, amount=taken))
    if still_needed:
        raise AssertionError(f"points lots of account {account.pk} do not add up to its balance")
    PointsLot.objects.bulk_update([use.lot for use in uses], ["remaining"])
    PointsLotUse.objects.bulk_create(uses)
    return entry


@transaction.atomic
def points_earn(
    *,
    member: Member,
    amount: int,
    reason: str | Reason,
    source_ref: str = "",
    expires_at: datetime | None = None,
    actor: User | None = None,
    client: ApiClient | None = None,
    kind: str = PointsEntryKind.EARN,
) -> PointsEntry:
    """Credit earned points, valid until ``expires_at`` (default: the programme's validity)."""
    amount = _positive_amount(amount)
    if kind not in (PointsEntryKind.EARN, PointsEntryKind.MIGRATE):
        raise ApplicationError("invalid_kind", _("Only earned or migrated points can be credited this way."))
    account = _lock_account(member)
    _require_status(account.member, {MemberStatus.ACTIVE})
    now = timezone.now()
    expires_at = expires_at or default_points_expiry(now)
    if expires_at <= now:
        raise ApplicationError("invalid_expiry", _("The expiry must be in the future."), fields={"expires_at": str(expires_at)})
    return _credit(
        account,
        kind=kind,
        amount=amount,
        expires_at=expires_at,
        now=now,
        **_reason(reason),
        source_ref=source_ref,
        actor=actor,
        client=client,
    )


@transaction.atomic
def points_spend(
    *, member: Member, amount: int, reason: str | Reason, source_ref: str = "", actor: User | None = None, client: ApiClient | None = None
) -> PointsEntry:
    """Debit points, earliest-expiring first; refused when the (unexpired) balance is short."""
    amount = _positive_amount(amount)
    account = _lock_account(member)
    _require_status(account.member, {MemberStatus.ACTIVE})
    return _debit(
        account,
        kind=PointsEntryKind.SPEND,
        amount=amount,
        now=timezone.now(),
        **_reason(reason),
        source_ref=source_ref,
        actor=actor,
        client=client,
    )


def _apply_adjustment(adjustment: PointsAdjustment, account: PointsAccount, *, now: datetime, expires_at: datetime | None) -> None:
    _require_status(account.member, {MemberStatus.ACTIVE, MemberStatus.FROZEN})
    fields = {"reason": adjustment.reason, "actor": adjustment.requested_by}
    if adjustment.amount > 0:
        expiry = expires_at or default_points_expiry(now)
        adjustment.entry = _credit(account, kind=PointsEntryKind.ADJUST, amount=adjustment.amount, expires_at=expiry, now=now, **fields)
    else:
        adjustment.entry = _debit(account, kind=PointsEntryKind.ADJUST, amount=-adjustment.amount, now=now, **fields)


@transaction.atomic
def points_adjust(*, member: Member, amount: int, reason: str, actor: User, expires_at: datetime | None = None) -> PointsAdjustment:
    """A staff correction, positive or negative, with a required reason.

    Within the staff member's daily allowance (customer service: the configured points per day; operations: no
    limit) the points move at once; above it the adjustment is recorded as pending and moves nothing until another
    person with the approval right approves it.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise ApplicationError("invalid_amount", _("The adjustment must be a non-zero whole number."), fields={"amount": amount})
    reason = _reason(reason)["reason"]
    _positive_amount(abs(amount))
    # Requests of one staff member queue on their user row, so racing requests cannot each spend the whole allowance.
    actor = User.objects.select_for_update().get(pk=actor.pk)
    now = timezone.now()
    allowance = adjust_allowance_left(actor=actor, now=now)
    if allowance == 0 and not actor.has_perm("members.adjust_points"):
        raise ApplicationError("permission_denied", _("You may not adjust points."), http_status=403)
    account = _lock_account(member)
    _require_status(account.member, {MemberStatus.ACTIVE, MemberStatus.FROZEN})
    adjustment = PointsAdjustment(member=account.member, amount=amount, reason=reason, requested_by=actor, requested_at=now)
    if allowance is not None and abs(amount) > allowance:
        adjustment.state = AdjustmentState.PENDING
    else:
        adjustment.state = AdjustmentState.APPLIED
        _apply_adjustment(adjustment, account, now=now, expires_at=expires_at)
    adjustment._history_user = actor
    adjustment.save()
    return adjustment


def _lock_pending(adjustment: PointsAdjustment, actor: User) -> PointsAdjustment:
    adjustment = PointsAdjustment.objects.select_for_update().select_related("requested_by").get(pk=adjustment.pk)
    if not actor.has_perm("members.approve_pointsadjustment"):
        raise ApplicationError("permission_denied", _("You may not approve or reject points adjustments."), http_status=403)
    if adjustment.requested_by_id == actor.pk:
        raise ApplicationError("own_adjustment", _("Another person must approve or reject an adjustment you asked for."), http_status=403)
    if adjustment.state != AdjustmentState.PENDING:
        raise ApplicationError(
            "adjustment_decided",
            _("This adjustment is no longer waiting: %(state)s.") % {"state": adjustment.get_state_display()},
            http_status=409,
        )
    return adjustment


@transaction.atomic
def points_adjustment_approve(*, adjustment: PointsAdjustment, actor: User, note: str = "") -> PointsAdjustment:
    """A second person approves a pending adjustment: only now do the points move, through the ledger."""
    adjustment = _lock_pending(adjustment, actor)
    account = _lock_account(adjustment.member)
    now = timezone.now()
    _apply_adjustment(adjustment, account, now=now, expires_at=None)
    adjustment.state = AdjustmentState.APPROVED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = actor, now, (note or "").strip()[:255]
    adjustment._history_user = actor
    adjustment.save()
    return adjustment


@transaction.atomic
def points_adjustment_reject(*, adjustment: PointsAdjustment, actor: User, note: str) -> PointsAdjustment:
    """A second person refuses a pending adjustment, saying why; no points move."""
    note = _reason(note)["reason"]
    adjustment = _lock_pending(adjustment, actor)
    adjustment.state = AdjustmentState.REJECTED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = actor, timezone.now(), note
    adjustment._history_user = actor
    adjustment.save()
    return adjustment


@transaction.atomic
def points_reverse(
    *, entry: PointsEntry, reason: str | Reason, actor: User | None = None, client: ApiClient | None = None, source_ref: str = ""
) -> PointsEntry:
    """Undo a ledger entry with a new, opposite one (once). A debit's points go back to the lots they came from."""
    reason_columns = _reason(reason)
    account = lock_points_accounts_by_id(account_ids=[entry.account_id])[0]
    entry = PointsEntry.objects.get(pk=entry.pk)
    if entry.kind in (PointsEntryKind.EXPIRE, PointsEntryKind.REVERSE):
        raise ApplicationError("not_reversible", _("Expiries and reversals cannot be reversed."), http_status=409)
    if PointsEntry.objects.filter(reverses=entry).exists():
        raise ApplicationError("already_reversed", _("This entry was already reversed."), http_status=409)
    now = timezone.now()
    fields = {**reason_columns, "actor": actor, "client": client, "source_ref": source_ref or entry.source_ref, "reverses": entry}
    if entry.amount > 0:
        lot = PointsLot.objects.filter(entry=entry).first()
        return _debit(account, kind=PointsEntryKind.REVERSE, amount=entry.amount, now=now, first_lot=lot, **fields)
    uses = list(PointsLotUse.objects.filter(entry=entry).select_related("lot"))
    reversal = _append(account, kind=PointsEntryKind.REVERSE, amount=-entry.amount, now=now, **fields)
    for use in uses:
        PointsLot.objects.filter(pk=use.lot_id).update(remaining=F("remaining") + use.amount)
    return reversal


def _expire_due_lots(accounts: list[PointsAccount], *, now: datetime) -> int:
    """Expire what is left of due lots on these locked accounts: one expiry entry per account."""
    due = list(PointsLot.objects.filter(account__in=accounts, remaining__gt=0, expires_at__lte=now).order_by("account_id", "id"))
    if not due:
        return 0
    by_account: dict[int, list[PointsLot]] = defaultdict(list)
    for lot in due:
        by_account[lot.account_id].append(lot)
    uses = []
    for account in accounts:
        lots = by_account.get(account.pk)
        if not lots:
            continue
        expired = sum(lot.remaining for lot in lots)
        entry = _append(
            account,
            kind=PointsEntryKind.EXPIRE,
            amount=-expired,
            now=now,
            expires_at=None,
            **reason_fields(Reason("points_expired")),
        )
        for lot in lots:
            uses.append(PointsLotUse(entry=entry, lot=lot, amount=lot.remaining))
            lot.remaining = 0
    PointsLot.objects.bulk_update(due, ["remaining"])
    PointsLotUse.objects.bulk_create(uses)
    return sum(use.amount for use in uses)


def points_expire_due(*, now: datetime | None = None, chunk_size: int = 500) -> int:
    """Expire every due lot, a chunk of accounts per transaction; safe to re-run and to interrupt."""
    now = now or timezone.now()
    total = 0
    last_account_id = 0
    while True:
        account_ids = list(
            PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now, account_id__gt=last_account_id)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:chunk_size]
        )
        if not account_ids:
            return total
        with transaction.atomic():
            accounts = lock_points_accounts_by_id(account_ids=account_ids)
            total += _expire_due_lots(accounts, now=now)
        last_account_id = account_ids[-1]


# Growth value and tiers -------------------------------------------------------------------------


def _window_start(now: datetime) -> datetime:
    return now - timedelta(days=settings.USEROPS["GROWTH_WINDOW_DAYS"])


def _qualifying_tier(tiers: list[Tier], growth_value: int) -> Tier:
    qualified = [tier for tier in tiers if tier.threshold <= growth_value]
    return max(qualified, key=lambda tier: tier.rank) if qualified else tiers[0]


def _rolling_growth(member_ids: list[int], now: datetime) -> dict[int, int]:
    rows = (
        GrowthEntry.objects.filter(member_id__in=member_ids, created_at__gt=_window_start(now), created_at__lte=now)
        .values("member_id")
        .annotate(total=Sum("amount"))
    )
    return {row["member_id"]: row["total"] for row in rows}


@transaction.atomic
def growth_add(
    *, member: Member, amount: int, reason: str | Reason, source_ref: str = "", actor: User | None = None
) -> tuple[GrowthEntry, TierChange | None]:
    """Record growth value; promote at once when the rolling total crosses a higher tier's threshold."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise ApplicationError("invalid_amount", _("Growth value must be a non-zero whole number."), fields={"amount": amount})
    member = lock_member(member_id=member.pk)
    _require_status(member, {MemberStatus.ACTIVE})
    reason_columns = _reason(reason)
    refuse_personal_data_in_text(member, reason=reason_columns["reason"], source_ref=source_ref)
    now = timezone.now()
    entry = GrowthEntry.objects.create(member=member, amount=amount, source_ref=source_ref, actor=actor, created_at=now, **reason_columns)
    member.growth_value = _rolling_growth([member.pk], now).get(member.pk, 0)
    tiers = list(Tier.objects.order_by("rank"))
    target = _qualifying_tier(tiers, member.growth_value)
    change = None
    if target.rank > member.tier.rank:
        change = _tier_change(member, target, TierChangeKind.PROMOTION, now, actor)
        change.save()
        member.save(update_fields=["tier", "tier_achieved_at", "growth_value", "updated_at"])
    else:
        member.save(update_fields=["growth_value", "updated_at"])
    return entry, change


def _tier_change(member: Member, target: Tier, kind: str, now: datetime, actor: User | None) -> TierChange:
    """Move the member to ``target`` in memory and return the (unsaved) record of why."""
    measured = target if kind == TierChangeKind.PROMOTION else member.tier
    params = {"value": member.growth_value, "tier": translated_param(measured, "name"), "threshold": measured.threshold}
    reason = Reason("tier_promoted" if kind == TierChangeKind.PROMOTION else "tier_demoted", params)
    change = TierChange(
        member=member,
        kind=kind,
        from_tier=member.tier,
        to_tier=target,
        growth_value=member.growth_value,
        actor=actor,
        created_at=now,
        **reason_fields(reason),
    )
    member.tier = target
    member.tier_achieved_at = now
    return change


@dataclass
class TierEvaluation:
    evaluated: int = 0
    promoted: int = 0
    demoted: int = 0


def tiers_evaluate(*, now: datetime | None = None, chunk_size: int = 2000) -> TierEvaluation:
    """Refresh every member's rolling growth value and apply the tier rules.

    Promotion: to the highest tier whose threshold the rolling value reaches (normally already done
    by ``growth_add``; this catches values that changed otherwise). Demotion — the grace rule: a tier
    is guaranteed for ``TIER_GUARANTEE_DAYS`` from when it was reached; at the first evaluation after
    that, a member below the tier's threshold moves down one tier, and the guarantee starts again.
    Runs a chunk of members per transaction, in primary-key order; safe to re-run and to interrupt.
    """
    now = now or timezone.now()
    tiers = list(Tier.objects.order_by("rank"))
    tiers_by_pk = {tier.pk: tier for tier in tiers}
    one_lower = {tier.pk: tiers[index - 1] for index, tier in enumerate(tiers) if index > 0}
    guarantee_cutoff = now - timedelta(days=settings.USEROPS["TIER_GUARANTEE_DAYS"])
    result = TierEvaluation()
    last_pk = 0
    while True:
        with transaction.atomic():
            members = list(
                Member.objects.select_for_update().filter(pk__gt=last_pk, status=MemberStatus.ACTIVE).order_by("pk")[:chunk_size]
            )
            if not members:
                return result
            growth = _rolling_growth([member.pk for member in members], now)
            changes, dirty = [], []
            for member in members:
                member.tier = tiers_by_pk[member.tier_id]
                value = growth.get(member.pk, 0)
                target = _qualifying_tier(tiers, value)
                is_dirty = value != member.growth_value
                member.growth_value = value
                if target.rank > member.tier.rank:
                    changes.append(_tier_change(member, target, TierChangeKind.PROMOTION, now, None))
                    result.promoted += 1
                    is_dirty = True
                elif target.rank < member.tier.rank and member.tier_achieved_at <= guarantee_cutoff:
                    changes.append(_tier_change(member, one_lower[member.tier.pk], TierChangeKind.DEMOTION, now, None))
                    result.demoted += 1
                    is_dirty = True
                if is_dirty:
                    member.updated_at = now
                    dirty.append(member)
            TierChange.objects.bulk_create(changes)
            Member.objects.bulk_update(dirty, ["tier", "tier_achieved_at", "growth_value", "updated_at"])
            result.evaluated += len(members)
            last_pk = members[-1].pk


@transaction.atomic
def tier_save(*, tier: Tier) -> Tier:
    """Create or edit a tier; the lowest tier must stay at threshold 0 so every member has a tier."""
    others = Tier.objects.exclude(pk=tier.pk)
    if others.filter(rank=tier.rank).exists():
        raise ApplicationError("duplicate_rank", _("Another tier already has this rank."), fields={"rank": tier.rank})
    lowest_other = others.order_by("rank").first()
    is_lowest = lowest_other is None or tier.rank < lowest_other.rank
    if is_lowest and tier.threshold != 0:
        raise ApplicationError("invalid_threshold", _("The lowest tier must have a threshold of 0."), fields={"threshold": tier.threshold})
    if others.filter(Q(rank__lt=tier.rank, threshold__gte=tier.threshold) | Q(rank__gt=tier.rank, threshold__lte=tier.threshold)).exists():
        raise ApplicationError("invalid_threshold", _("Thresholds must rise with rank."), fields={"threshold": tier.threshold})
    tier.save()
    return tier
