"""Personal data rights (PIPL): a member's data export, anonymisation, and redaction of free text that names them."""

import json
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import AccessAction, User
from apps.core.outbox import EventType, outbox_emit_many
from apps.core.redaction import redact_text
from apps.core.services import access_log_record, personal_text_redact
from apps.members.locks import lock_member
from apps.members.models import Consent, Gender, GrowthEntry, Member, MemberStatus, MemberToken, PointsEntry, TierChange
from apps.members.outbox_events import member_event
from apps.members.personal_data import (
    MEMBER_ANONYMISERS,
    MEMBER_DATA_SECTIONS,
    PersonalValues,
    personal_values,
    redact_member_mentions,
)
from apps.members.services.profile import member_withdraw_all_consents

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
    outbox_emit_many(events=[member_event(EventType.MEMBER_ANONYMISED, member)])
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
