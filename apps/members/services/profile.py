"""Members' profiles: enrolment, profile edits, consent, and the status transitions (freeze, unfreeze, close)."""

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.activity import activity_happened
from apps.core.bulk_insert import insert_rows
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.outbox import EventType, outbox_emit_many
from apps.core.reasons import Reason
from apps.members.locks import lock_consent, lock_member
from apps.members.models import Consent, ConsentChannel, Gender, Member, MemberStatus, MemberToken, SourceChannel, TagChangeSource
from apps.members.outbox_events import member_event
from apps.members.phones import normalize_phone
from apps.members.services.ledger import AccountOwner, points_accounts_open
from apps.members.services.tags import member_tags_set
from apps.members.services.tiers import TierStart, lowest_tier, tier_history_start

PROFILE_FIELDS = ("name", "phone", "email", "gender", "birthday", "city", "external_id")
# A profile is complete when all of these are filled: the first time it is, the member's ``profile_completed`` activity.
COMPLETE_PROFILE_FIELDS = ("name", "phone", "email", "birthday", "city")


def _profile_complete(member: Member) -> bool:
    return all(getattr(member, field) for field in COMPLETE_PROFILE_FIELDS)


def _announce_profile_completed(member: Member, now: datetime) -> None:
    """Announce the member's first complete profile; the event id is the member's, so it is stored (and rewarded) once."""
    activity_happened(
        member_id=member.pk,
        kind="profile_completed",
        event_id=f"profile_completed:{member.pk}",
        occurred_at=now,
        channel=member.source_channel,
    )


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
    prospect_id = _prospect_with(phone=fields["phone"], external_id=fields["external_id"])
    if prospect_id is not None:
        # A person we knew as a prospect (from a lead) enrols: that record becomes the member, with its history.
        return _prospect_convert(
            member_id=prospect_id, fields=fields, source_channel=source_channel, tags=tags, consents=consents, actor=actor
        )
    member_check_unique(phone=fields["phone"], external_id=fields["external_id"])
    now = timezone.now()
    tier = lowest_tier()
    member = Member(**fields, source_channel=source_channel, joined_at=joined_at or now, tier=tier, tier_achieved_at=now)
    member._history_user = actor
    _save_unique(member, force_insert=True)
    points_accounts_open(owners=[AccountOwner(member.pk, member.phone, member.email, member.name)], now=now)
    _enrolment_complete(member=member, tags=tags, consents=consents, actor=actor, now=now)
    return member


def _enrolment_complete(
    *, member: Member, tags: Iterable[str], consents: dict[str, bool] | None, actor: User | None, now: datetime
) -> None:
    """What enrolment starts beside the member row and its account: tier history, tags, consents, the announcements."""
    tier_history_start(starts=[TierStart(member_id=member.pk, tier_id=member.tier_id, reason=Reason("enrolment"))], now=now, actor=actor)
    if tags:
        member_tags_set(member=member, names=tags, source=TagChangeSource.ENROLMENT, actor=actor)
    for channel, granted in (consents or {}).items():
        member_set_consent(member=member, channel=channel, granted=granted, source="enrolment")
    # Earning rules and tasks can reward enrolment and a complete profile: both are announced as activity.
    activity_happened(
        member_id=member.pk,
        kind="enrolment",
        event_id=f"enrolment:{member.pk}",
        occurred_at=member.joined_at,
        channel=member.source_channel,
    )
    if _profile_complete(member):
        _announce_profile_completed(member, now)
    outbox_emit_many(events=[member_event(EventType.MEMBER_ENROLLED, member, source_channel=member.source_channel)])


def _prospect_with(*, phone: str | None, external_id: str | None) -> int | None:
    """The prospect an enrolment with this phone or external ID is, or None when it names nobody or an enrolled member.

    Two different prospects (one by phone, one by external ID) are two people the enrolment cannot be both of.
    """
    identity = Q(phone=phone) if phone else Q()
    if external_id:
        identity |= Q(external_id=external_id)
    if not identity:
        return None
    found = dict(Member.objects.filter(identity).values_list("pk", "status"))
    if not found or any(status != MemberStatus.PROSPECT for status in found.values()):
        return None
    if len(found) > 1:
        raise ApplicationError(
            "ambiguous_prospect",
            _("The mobile phone number and the external ID belong to two different prospects; merge them first."),
            fields={"external_id": external_id},
            http_status=409,
        )
    return next(iter(found))


def _prospect_convert(
    *,
    member_id: int,
    fields: dict[str, Any],
    source_channel: str,
    tags: Iterable[str] = (),
    consents: dict[str, bool] | None = None,
    actor: User | None = None,
) -> Member:
    member = lock_member(member_id=member_id)
    if member.status != MemberStatus.PROSPECT:
        raise ApplicationError(
            "invalid_status",
            _("The member is %(status)s; only a prospect can enrol.") % {"status": member.get_status_display()},
            http_status=409,
        )
    # What the enrolment says wins; what it leaves empty keeps what the lead told us.
    changes = {
        name: value for name, value in fields.items() if value not in (None, "") and not (name == "gender" and value == Gender.UNKNOWN)
    }
    member_check_unique(phone=changes.get("phone"), external_id=changes.get("external_id"), exclude_pk=member.pk)
    now = timezone.now()
    for name, value in changes.items():
        setattr(member, name, value)
    member.status = MemberStatus.ACTIVE
    member.source_channel = source_channel
    member.joined_at = now
    member.tier = lowest_tier()
    member.tier_achieved_at = now
    member._history_user = actor
    member._change_reason = "enrolment"
    _save_unique(member)
    _enrolment_complete(member=member, tags=tags, consents=consents, actor=actor, now=now)
    return member


@transaction.atomic
def member_enrol_prospect(
    *, member: Member, source_channel: str = SourceChannel.STAFF, actor: User | None = None, **profile: Any
) -> Member:
    """Staff enrol a prospect: the same record becomes an active member, joined now, its leads and history kept."""
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise ApplicationError(
            "invalid_field", _("These fields cannot be changed here: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    if source_channel not in SourceChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown source channel."), fields={"source_channel": source_channel})
    return _prospect_convert(member_id=member.pk, fields=_clean_profile(profile), source_channel=source_channel, actor=actor)


@transaction.atomic
def prospect_register(
    *,
    name: str,
    phone: str | None = None,
    external_id: str | None = None,
    city: str = "",
    source_channel: str = SourceChannel.DEALER,
    actor: User | None = None,
) -> Member:
    """A person we know of from a lead, not enrolled: a member row with status prospect and an empty points account.

    No tier history, no enrolment announcement, no points, no campaigns until ``member_enrol`` (or staff) enrols them.
    A concurrent registration of the same phone or external ID is refused with the duplicate's error, so a caller can
    look the person up again.
    """
    fields = _clean_profile({"name": name, "phone": phone, "external_id": external_id, "city": city})
    if not fields["phone"] and not fields["external_id"]:
        raise ApplicationError("identity_required", _("A prospect needs a mobile phone number or an external ID."), fields={"phone": None})
    if source_channel not in SourceChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown source channel."), fields={"source_channel": source_channel})
    member_check_unique(phone=fields["phone"], external_id=fields["external_id"])
    now = timezone.now()
    member = Member(
        **fields, status=MemberStatus.PROSPECT, source_channel=source_channel, joined_at=now, tier=lowest_tier(), tier_achieved_at=now
    )
    member._history_user = actor
    _save_unique(member, force_insert=True)
    points_accounts_open(owners=[AccountOwner(member.pk, member.phone, member.email, member.name)], now=now)
    return member


@transaction.atomic
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
    was_complete = _profile_complete(member)
    for field in changed:
        setattr(member, field, cleaned[field])
    if changed:
        member._history_user = actor
        _save_unique(member, update_fields=[*changed, "updated_at"])
        if not was_complete and _profile_complete(member):
            _announce_profile_completed(member, timezone.now())
    if tags is not None:
        member_tags_set(member=member, names=tags, source=TagChangeSource.STAFF, actor=actor)
    outbox_emit_many(events=[member_event(EventType.MEMBER_UPDATED, member, changed=changed)] if changed else [])
    return member


@transaction.atomic
def member_set_consent(
    *, member: Member, channel: str, granted: bool, source: str = "", actor: User | None = None, reason: str = ""
) -> Consent:
    if channel not in ConsentChannel.values:
        raise ApplicationError(
            "invalid_channel", _("Unknown consent channel: %(channel)s") % {"channel": channel}, fields={"channel": channel}
        )
    consent = lock_consent(member_id=member.pk, channel=channel)
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


def members_history_record_created(*, members: Sequence[dict[str, Any]], now: datetime) -> None:
    """The audit trail's "created" version of members inserted set-based (rows by field attname, as inserted),
    which ``save()`` would have written for each."""
    if not members:
        return
    history_model = Member.history.model
    copied = [f.attname for f in history_model._meta.concrete_fields if f.attname in members[0]]
    insert_rows(history_model, [{**{name: m[name] for name in copied}, "history_date": now, "history_type": "+"} for m in members])
