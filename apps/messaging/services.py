"""The outbox: enqueue (consent, dedupe, rendering), send with retries and quiet hours, unsubscribe."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template import Context, Template, TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.members.models import ConsentChannel, Member, MemberStatus
from apps.members.services import member_set_consent
from apps.messaging.backends import SendError, backend_for
from apps.messaging.models import Message, MessagePurpose, MessageState, MessageTemplate, new_unsubscribe_token
from apps.messaging.selectors import members_with_consent

logger = logging.getLogger("userops.messaging")


class SkipReason:
    """Why ``message_enqueue`` did not queue a message (stable codes, counted by campaigns)."""

    NO_CONSENT = "no_consent"
    DUPLICATE = "duplicate"
    MEMBER_INACTIVE = "member_inactive"


def _config(key: str) -> Any:
    return settings.USEROPS_MESSAGING[key]


def message_skip_reason(*, member: Member, channel: str, purpose: str) -> str | None:
    """The reason a message of this purpose may not go to the member on this channel, or None."""
    if member.status == MemberStatus.CLOSED or (purpose == MessagePurpose.MARKETING and member.status != MemberStatus.ACTIVE):
        return SkipReason.MEMBER_INACTIVE
    if purpose == MessagePurpose.MARKETING and not members_with_consent(channel=channel).filter(pk=member.pk).exists():
        return SkipReason.NO_CONSENT
    return None


def _check(channel: str, purpose: str) -> None:
    if channel not in ConsentChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown channel: %(channel)s") % {"channel": channel}, fields={"channel": channel})
    if purpose not in MessagePurpose.values:
        raise ApplicationError("invalid_purpose", _("Unknown purpose: %(purpose)s") % {"purpose": purpose}, fields={"purpose": purpose})


def _template(code: str, channel: str) -> MessageTemplate:
    template = MessageTemplate.objects.filter(code=code, channel=channel, is_active=True).first()
    if template is None:
        raise ApplicationError(
            "template_not_found",
            _("No active %(channel)s template with the code %(code)s.") % {"channel": channel, "code": code},
            fields={"template_code": code},
        )
    return template


def unsubscribe_url(token: str) -> str:
    return _config("PUBLIC_BASE_URL").rstrip("/") + reverse("api-v1:unsubscribe", kwargs={"token": token})


def _render(template: MessageTemplate, member: Member, context: dict[str, Any], language: str, token: str) -> tuple[str, str]:
    with translation.override(language):
        values = {"name": member.name, "tier": member.tier.name, "unsubscribe_url": unsubscribe_url(token), **context}
        # Messages are plain text: no HTML escaping of names.
        rendered = Context(values, autoescape=False)
        subject = Template(template.subject).render(rendered).strip()
        body = Template(template.body).render(rendered).strip()
    if not body:
        raise ApplicationError("empty_message", _("The template renders an empty message."), fields={"template_code": template.code})
    return subject, body


def _new_message(
    template: MessageTemplate, member: Member, context: dict[str, Any], purpose: str, dedupe_key: str, language: str, now: datetime
) -> Message:
    token = new_unsubscribe_token()
    subject, body = _render(template, member, context, language, token)
    return Message(
        member=member,
        channel=template.channel,
        purpose=purpose,
        template_code=template.code,
        subject=subject,
        body=body,
        language=language,
        next_attempt_at=now,
        dedupe_key=dedupe_key,
        unsubscribe_token=token,
    )


def message_enqueue(
    *,
    member: Member,
    channel: str,
    template_code: str,
    context: dict[str, Any],
    purpose: str = MessagePurpose.SERVICE,
    dedupe_key: str,
    language: str | None = None,
) -> Message | None:
    """Queue one message; None when it must not be sent (``message_skip_reason`` says why) or was queued before.

    Members carry no language preference yet, so ``language`` defaults to the programme's default language.
    """
    _check(channel, purpose)
    if not dedupe_key:
        raise ApplicationError("dedupe_key_required", _("A deduplication key is required."), fields={"dedupe_key": ""})
    reason = message_skip_reason(member=member, channel=channel, purpose=purpose)
    if reason is not None:
        logger.info("message %s to member %s skipped: %s", template_code, member.pk, reason)
        return None
    if Message.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    message = _new_message(
        _template(template_code, channel), member, context, purpose, dedupe_key, language or settings.LANGUAGE_CODE, timezone.now()
    )
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        # A concurrent sender queued the same key first.
        return None
    return message


def messages_enqueue_bulk(
    *,
    member_ids: Iterable[int],
    channel: str,
    template_code: str,
    context: dict[str, Any],
    purpose: str,
    dedupe_prefix: str,
    language: str | None = None,
) -> int:
    """Queue one message per member (``dedupe_prefix:member_id``), consent and status filtered in SQL.

    Returns how many were queued now; members already messaged under the prefix are left alone.
    """
    _check(channel, purpose)
    template = _template(template_code, channel)
    members: QuerySet[Member] = Member.objects.filter(pk__in=list(member_ids)).select_related("tier")
    if purpose == MessagePurpose.MARKETING:
        members = members.filter(status=MemberStatus.ACTIVE).filter(pk__in=members_with_consent(channel=channel).values("pk"))
    else:
        members = members.exclude(status=MemberStatus.CLOSED)
    now = timezone.now()
    language = language or settings.LANGUAGE_CODE
    batch = [_new_message(template, member, context, purpose, f"{dedupe_prefix}:{member.pk}", language, now) for member in members]
    Message.objects.bulk_create(batch, ignore_conflicts=True, batch_size=2000)
    # Rows that lost to an existing dedupe key were not inserted, so their fresh tokens are not in the table.
    return Message.objects.filter(unsubscribe_token__in=[m.unsubscribe_token for m in batch]).count()


# Sending ----------------------------------------------------------------------------------------


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_hours_end(now: datetime) -> datetime | None:
    """When the quiet hours around ``now`` end, or None outside them."""
    window = _config("QUIET_HOURS")
    if not window:
        return None
    start, end = _clock(window[0]), _clock(window[1])
    local = now.astimezone(ZoneInfo(_config("QUIET_HOURS_TIME_ZONE")))
    current = local.time()
    inside = start <= current < end if start <= end else (current >= start or current < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def retry_delay(attempts: int) -> timedelta:
    """Exponential back-off: base, 2×base, 4×base … after the 1st, 2nd, 3rd failed attempt."""
    return timedelta(seconds=_config("RETRY_BASE_SECONDS") * 2 ** (attempts - 1))


@dataclass
class SendSummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    postponed: int = 0

    @property
    def processed(self) -> int:
        return self.sent + self.retrying + self.failed + self.postponed


def _fail(message: Message, error: str) -> None:
    message.state = MessageState.FAILED
    message.last_error = error[:500]


def _attempt(message: Message, now: datetime, consented: set[tuple[int, str]], summary: SendSummary) -> None:
    if message.purpose == MessagePurpose.MARKETING:
        if (message.member_id, message.channel) not in consented:
            _fail(message, SkipReason.NO_CONSENT)
            summary.failed += 1
            return
        if message.channel == ConsentChannel.SMS and (ends := quiet_hours_end(now)) is not None:
            message.next_attempt_at = ends
            summary.postponed += 1
            return
    message.attempts += 1
    try:
        message.provider_ref = backend_for(message.channel).send(message)[:128]
    except SendError as exc:
        message.last_error = str(exc)[:500]
        if exc.permanent or message.attempts >= _config("MAX_ATTEMPTS"):
            message.state = MessageState.FAILED
            summary.failed += 1
        else:
            message.next_attempt_at = now + retry_delay(message.attempts)
            summary.retrying += 1
        return
    message.state, message.sent_at, message.last_error = MessageState.SENT, now, ""
    summary.sent += 1


def messages_send_due(*, now: datetime | None = None, batch_size: int = 500) -> SendSummary:
    """Send one batch of due messages. Rows are claimed with SKIP LOCKED, so several workers can share the outbox."""
    now = now or timezone.now()
    summary = SendSummary()
    with transaction.atomic():
        batch = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("member")
            .filter(state=MessageState.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:batch_size]
        )
        if not batch:
            return summary
        marketing = [m for m in batch if m.purpose == MessagePurpose.MARKETING]
        consented: set[tuple[int, str]] = set()
        for channel in {m.channel for m in marketing}:
            ids = members_with_consent(channel=channel).filter(pk__in=[m.member_id for m in marketing]).values_list("pk", flat=True)
            consented.update((pk, channel) for pk in ids)
        for message in batch:
            _attempt(message, now, consented, summary)
        Message.objects.bulk_update(
            batch, ["state", "attempts", "next_attempt_at", "last_error", "provider_ref", "sent_at", "updated_at"], batch_size=1000
        )
    return summary


@transaction.atomic
def message_mark_delivered(*, message: Message) -> Message:
    """A provider's delivery receipt."""
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.state != MessageState.SENT:
        raise ApplicationError(
            "invalid_state",
            _("Only a sent message can be delivered (it is %(state)s).") % {"state": message.get_state_display()},
            http_status=409,
        )
    message.state, message.delivered_at = MessageState.DELIVERED, timezone.now()
    message.save(update_fields=["state", "delivered_at", "updated_at"])
    return message


@transaction.atomic
def message_unsubscribe(*, token: str) -> Message:
    """Withdraw the marketing consent of the message's channel; queued marketing messages on it are dropped."""
    message = Message.objects.select_related("member").filter(unsubscribe_token=token).first()
    if message is None:
        raise ApplicationError("unsubscribe_token_invalid", _("This unsubscribe link is not valid."), http_status=404)
    member_set_consent(member=message.member, channel=message.channel, granted=False, source="unsubscribe")
    Message.objects.filter(
        member=message.member, channel=message.channel, purpose=MessagePurpose.MARKETING, state=MessageState.QUEUED
    ).update(state=MessageState.FAILED, last_error=SkipReason.NO_CONSENT, updated_at=timezone.now())
    return message


# Templates --------------------------------------------------------------------------------------


@transaction.atomic
def message_template_save(*, template: MessageTemplate) -> MessageTemplate:
    """Save a template after checking that every language's subject and body compile."""
    for field in ("subject", "body"):
        for language, _label in settings.LANGUAGES:
            text = getattr(template, f"{field}_{language.replace('-', '_')}", "") or ""
            try:
                Template(text)
            except TemplateSyntaxError as exc:
                raise ApplicationError(
                    "invalid_template",
                    _("The %(field)s does not compile: %(error)s") % {"field": field, "error": exc},
                    fields={f"{field}_{language.replace('-', '_')}": text},
                ) from exc
    template.save()
    return template
