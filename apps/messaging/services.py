"""The outbox: enqueue (consent, caps, fallback order, dedupe, rendering), send through providers with retries,
quiet hours and fallback, delivery receipts, unsubscribe."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.core.bulk_insert import allocate_ids
from apps.core.errors import ApplicationError
from apps.members.locks import lock_member, lock_members
from apps.members.models import ConsentChannel, Member, MemberStatus
from apps.members.services import member_set_consent
from apps.messaging import policy
from apps.messaging.member_values import member_values
from apps.messaging.models import Message, MessagePurpose, MessageState, MessageTemplate, new_unsubscribe_token
from apps.messaging.policy import quiet_hours_end  # noqa: F401 - part of this module's public names
from apps.messaging.providers import PROVIDER_NOT_CONFIGURED, ProviderNotConfiguredError, SendError, provider_for
from apps.messaging.rendering import TEMPLATE_VARIABLES, compile_message_template, render_message_text
from apps.messaging.selectors import members_with_consent
from apps.messaging.tracking import message_id_from_token, tracked_url

logger = logging.getLogger("userops.messaging")


class SkipReason:
    """Why a message was not queued, or failed before it left (stable codes, counted by campaigns)."""

    NO_CONSENT = "no_consent"
    DUPLICATE = "duplicate"
    MEMBER_INACTIVE = "member_inactive"
    NO_IDENTITY = policy.NO_IDENTITY
    NO_TEMPLATE = "no_template"
    FREQUENCY_CAP = policy.FREQUENCY_CAP
    PROVIDER_NOT_CONFIGURED = PROVIDER_NOT_CONFIGURED


def _config(key: str) -> Any:
    return settings.USEROPS_MESSAGING[key]


def message_skip_reason(*, member: Member, channel: str, purpose: str) -> str | None:
    """The reason a message of this purpose may not go to the member on this channel, or None."""
    if member.status == MemberStatus.CLOSED or (purpose == MessagePurpose.MARKETING and member.status != MemberStatus.ACTIVE):
        return SkipReason.MEMBER_INACTIVE
    if purpose == MessagePurpose.MARKETING and not members_with_consent(channel=channel).filter(pk=member.pk).exists():
        return SkipReason.NO_CONSENT
    return None


def _check(channels: Iterable[str], purpose: str) -> None:
    known = policy.known_channels()
    for channel in channels:
        if channel not in known:
            raise ApplicationError("invalid_channel", _("Unknown channel: %(channel)s") % {"channel": channel}, fields={"channel": channel})
    if purpose not in MessagePurpose.values:
        raise ApplicationError("invalid_purpose", _("Unknown purpose: %(purpose)s") % {"purpose": purpose}, fields={"purpose": purpose})


def _active_template(code: str, channel: str) -> MessageTemplate | None:
    return MessageTemplate.objects.filter(code=code, channel=channel, is_active=True).first()


def _template(code: str, channel: str) -> MessageTemplate:
    template = _active_template(code, channel)
    if template is None:
        raise ApplicationError(
            "template_not_found",
            _("No active %(channel)s template with the code %(code)s.") % {"channel": channel, "code": code},
            fields={"template_code": code},
        )
    return template


def unsubscribe_url(token: str) -> str:
    return _config("PUBLIC_BASE_URL").rstrip("/") + reverse("api-v1:unsubscribe", kwargs={"token": token})


def _plain(value: Any) -> Any:
    """A context value as JSON keeps it (kept on the message for a fallback channel)."""
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


WECHAT_CHANNELS = frozenset({ConsentChannel.OFFICIAL_ACCOUNT, ConsentChannel.MINI_PROGRAM, ConsentChannel.WECOM})


def _provider_params(mapping: Any, values: dict[str, Any]) -> Any:
    """The provider template's parameters filled from the message variables (an object or a list, as mapped)."""

    def value(variable: Any) -> str:
        found = values.get(str(variable))
        return "" if found is None else str(found)

    if isinstance(mapping, dict):
        return {str(param): value(variable) for param, variable in mapping.items()} if mapping else None
    if isinstance(mapping, list):
        return [value(variable) for variable in mapping]
    return None


def _render(
    template: MessageTemplate, member: Member, context: dict[str, Any], language: str, token: str, message_id: int | None
) -> tuple[str, str, Any]:
    with translation.override(language):
        values = {
            "name": member.name,
            "tier": member.tier.name,
            "points_balance": member.points_account.balance,
            "unsubscribe_url": unsubscribe_url(token),
            "tracked_url": tracked_url(message_id) if message_id else "",
            **member_values(template.code, (template.subject, template.body), member),
            **context,
        }
        subject = render_message_text(compile_message_template(template.subject, field="subject"), values)
        body = render_message_text(compile_message_template(template.body, field="body"), values)
    if not body:
        raise ApplicationError("empty_message", _("The template renders an empty message."), fields={"template_code": template.code})
    # WeChat templates fill their data keys at send time from the rendered subject and body (apps/messaging/wechat.py).
    params = None if template.channel in WECHAT_CHANNELS else _provider_params(template.provider_params, values)
    return subject, body, params


def _new_message(
    template: MessageTemplate,
    member: Member,
    context: dict[str, Any],
    purpose: str,
    dedupe_key: str,
    language: str,
    now: datetime,
    fallback_channels: list[str] | None = None,
    message_id: int | None = None,
) -> Message:
    """A message to insert; ``message_id`` is its reserved key when the template has a link (``_reserved_ids``)."""
    token = new_unsubscribe_token()
    subject, body, params = _render(template, member, context, language, token, message_id)
    return Message(
        pk=message_id,
        link_url=template.link_url,
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
        provider_template_id=template.provider_template_id,
        provider_params=params,
        context={key: _plain(value) for key, value in context.items()},
        fallback_channels=fallback_channels or [],
    )


def _reserved_ids(templates: list[MessageTemplate]) -> list[int | None]:
    """A key per message to be queued with these templates, reserved in one query for those whose template has a link:
    the tracked link signs the message's id, so it must be known before the text is rendered."""
    reserved = iter(allocate_ids(Message, sum(1 for template in templates if template.link_url)))
    return [next(reserved) if template.link_url else None for template in templates]


def _route(*, member: Member, channels: list[str], template_code: str, purpose: str) -> tuple[MessageTemplate, list[str]] | str:
    """The first channel the member can get this kind of message on, with the channels left after it; or why none."""
    reason = None
    for position, channel in enumerate(channels):
        reason = message_skip_reason(member=member, channel=channel, purpose=purpose)
        if reason == SkipReason.MEMBER_INACTIVE:
            return reason
        reason = reason or policy.channel_check(member=member, channel=channel, template_code=template_code)
        if reason is not None:
            continue
        template = _active_template(template_code, channel)
        if template is None:
            reason = SkipReason.NO_TEMPLATE
            continue
        return template, channels[position + 1 :]
    return reason or SkipReason.NO_TEMPLATE


def _order_key(dedupe_key: str, channel: str | None) -> str:
    """A sender's key with its channel left out: senders that queue a kind once per channel (``kind:ref:sms``,
    ``kind:ref:push``) queue one message when the kind has a fallback order."""
    return dedupe_key.replace(f":{channel}", "", 1) if channel else dedupe_key


def message_enqueue(
    *,
    member: Member,
    template_code: str,
    context: dict[str, Any],
    dedupe_key: str,
    channel: str | None = None,
    purpose: str = MessagePurpose.SERVICE,
    language: str | None = None,
) -> Message | None:
    """Queue one message; None when it must not be sent (``message_skip_reason`` says why) or was queued before.

    When the kind has a fallback order (``FALLBACK_ORDER[template_code]``) and ``channel`` is left out or is one of
    its channels, the message goes to the first channel of the order the member can be reached on, and the channel
    is dropped from the dedupe key (a sender calling once per channel queues one message); otherwise it goes to
    ``channel``. A capped purpose over the member's frequency cap queues nothing. Members carry no language
    preference yet, so ``language`` defaults to the programme's default language.
    """
    order = policy.fallback_order(template_code)
    if order and (channel is None or channel in order):
        channels, dedupe_key = order, _order_key(dedupe_key, channel)
    else:
        channels = [channel] if channel else []
    if not channels:
        raise ApplicationError(
            "invalid_channel", _("No channel is given or configured for %(code)s.") % {"code": template_code}, fields={"channel": ""}
        )
    _check(channels, purpose)
    if not dedupe_key:
        raise ApplicationError("dedupe_key_required", _("A deduplication key is required."), fields={"dedupe_key": ""})
    if not any(_active_template(template_code, candidate) for candidate in channels):
        _template(template_code, channels[0])  # raises template_not_found
    with transaction.atomic():
        capped = policy.caps_apply(purpose)
        if capped:
            # Two senders racing for the member's last slot take turns on the member's row.
            lock_member(member_id=member.pk)
        if Message.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        now = timezone.now()
        if capped and policy.members_over_cap(member_ids=[member.pk], purpose=purpose, now=now):
            logger.info("message %s to member %s skipped: %s", template_code, member.pk, SkipReason.FREQUENCY_CAP)
            return None
        routed = _route(member=member, channels=channels, template_code=template_code, purpose=purpose)
        if isinstance(routed, str):
            logger.info("message %s to member %s skipped: %s", template_code, member.pk, routed)
            return None
        template, rest = routed
        message = _new_message(
            template, member, context, purpose, dedupe_key, language or settings.LANGUAGE_CODE, now, rest, *_reserved_ids([template])
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
    """Queue one message per member (``dedupe_prefix:member_id``) on one channel, consent, status and frequency caps
    applied in SQL. When the kind has a fallback order that includes ``channel``, each member's message is routed
    through the order instead (``messages_enqueue_each``, the channel dropped from the keys as ``message_enqueue``
    does).

    Returns how many were queued now; members already messaged under the prefix are left alone.
    """
    order = policy.fallback_order(template_code)
    if order and channel in order:
        items = [Outgoing(member_id=pk, context=context, dedupe_key=_order_key(f"{dedupe_prefix}:{pk}", channel)) for pk in member_ids]
        return messages_enqueue_each(items=items, template_code=template_code, purpose=purpose, language=language)
    _check([channel], purpose)
    template = _template(template_code, channel)
    ids = list(member_ids)
    members: QuerySet[Member] = Member.objects.filter(pk__in=ids).select_related("tier", "points_account")
    if purpose == MessagePurpose.MARKETING:
        members = members.filter(status=MemberStatus.ACTIVE).filter(pk__in=members_with_consent(channel=channel).values("pk"))
    else:
        members = members.exclude(status=MemberStatus.CLOSED)
    now = timezone.now()
    language = language or settings.LANGUAGE_CODE
    with transaction.atomic():
        over: set[int] = set()
        if policy.caps_apply(purpose):
            lock_members(member_ids=ids)
            over = policy.members_over_cap(member_ids=ids, purpose=purpose, now=now)
        recipients = [
            member
            for member in members
            if member.pk not in over and policy.channel_check(member=member, channel=channel, template_code=template_code) is None
        ]
        batch = [
            _new_message(template, member, context, purpose, f"{dedupe_prefix}:{member.pk}", language, now, None, message_id)
            for member, message_id in zip(recipients, _reserved_ids([template] * len(recipients)), strict=True)
        ]
        Message.objects.bulk_create(batch, ignore_conflicts=True, batch_size=2000)
    # Rows that lost to an existing dedupe key were not inserted, so their fresh tokens are not in the table.
    return Message.objects.filter(unsubscribe_token__in=[m.unsubscribe_token for m in batch]).count()


@dataclass(frozen=True)
class Outgoing:
    """One member's message of a kind sent to many, each with its own variables (reminders)."""

    member_id: int
    context: dict[str, Any]
    dedupe_key: str


def messages_enqueue_each(
    *,
    items: list[Outgoing],
    template_code: str,
    purpose: str,
    channel: str | None = None,
    language: str | None = None,
) -> int:
    """Queue one message per item, each routed through the kind's fallback order, in a fixed number of queries.

    Members are loaded, consent and caps read, and the messages inserted set-wise; an item whose dedupe key was
    used before, whose member is closed (or not active, for marketing), at the cap, or reachable on no channel of
    the order is left out. Returns how many were queued now.
    """
    order = policy.fallback_order(template_code)
    channels = order if order and (channel is None or channel in order) else ([channel] if channel else [])
    if not channels:
        raise ApplicationError(
            "invalid_channel", _("No channel is given or configured for %(code)s.") % {"code": template_code}, fields={"channel": ""}
        )
    _check(channels, purpose)
    templates = {t.channel: t for t in MessageTemplate.objects.filter(code=template_code, channel__in=channels, is_active=True)}
    if not templates:
        _template(template_code, channels[0])  # raises template_not_found
    used = set(Message.objects.filter(dedupe_key__in=[item.dedupe_key for item in items]).values_list("dedupe_key", flat=True))
    items = [item for item in items if item.dedupe_key not in used]
    ids = [item.member_id for item in items]
    members: QuerySet[Member] = Member.objects.filter(pk__in=ids).select_related("tier", "points_account")
    members = (
        members.filter(status=MemberStatus.ACTIVE) if purpose == MessagePurpose.MARKETING else members.exclude(status=MemberStatus.CLOSED)
    )
    by_id = {member.pk: member for member in members}
    consented: dict[str, set[int]] = {}
    if purpose == MessagePurpose.MARKETING:
        for candidate in templates:
            consented[candidate] = set(members_with_consent(channel=candidate).filter(pk__in=list(by_id)).values_list("pk", flat=True))
    now = timezone.now()
    language = language or settings.LANGUAGE_CODE
    with transaction.atomic():
        over: set[int] = set()
        if policy.caps_apply(purpose):
            lock_members(member_ids=by_id)
            over = policy.members_over_cap(member_ids=by_id, purpose=purpose, now=now)
        routed: list[tuple[Outgoing, Member, MessageTemplate, list[str]]] = []
        for item in items:
            member = by_id.get(item.member_id)
            if member is None or member.pk in over:
                continue
            for position, candidate in enumerate(channels):
                if candidate not in templates or (purpose == MessagePurpose.MARKETING and member.pk not in consented[candidate]):
                    continue
                if policy.channel_check(member=member, channel=candidate, template_code=template_code) is not None:
                    continue
                routed.append((item, member, templates[candidate], channels[position + 1 :]))
                break
        message_ids = _reserved_ids([template for _item, _member, template, _rest in routed])
        batch = [
            _new_message(template, member, item.context, purpose, item.dedupe_key, language, now, rest, message_id)
            for (item, member, template, rest), message_id in zip(routed, message_ids, strict=True)
        ]
        Message.objects.bulk_create(batch, ignore_conflicts=True, batch_size=2000)
    return Message.objects.filter(unsubscribe_token__in=[m.unsubscribe_token for m in batch]).count()


# Sending ----------------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """Exponential back-off: base, 2×base, 4×base … after the 1st, 2nd, 3rd failed attempt."""
    return timedelta(seconds=_config("RETRY_BASE_SECONDS") * 2 ** (attempts - 1))


@dataclass
class SendSummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    postponed: int = 0
    fallbacks: int = 0

    @property
    def processed(self) -> int:
        return self.sent + self.retrying + self.failed + self.postponed


@dataclass
class _Batch:
    now: datetime
    consented: set[tuple[int, str]]
    summary: SendSummary
    gave_up: list[Message] = field(default_factory=list)


def _fail(message: Message, error: str, batch: _Batch, code: str = "") -> None:
    message.state = MessageState.FAILED
    message.last_error = error[:500]
    message.provider_code = code[:64]
    batch.summary.failed += 1
    batch.gave_up.append(message)


def _attempt(message: Message, batch: _Batch) -> None:
    now = batch.now
    if message.purpose == MessagePurpose.MARKETING:
        if (message.member_id, message.channel) not in batch.consented:
            _fail(message, SkipReason.NO_CONSENT, batch)
            return
        if (ends := policy.quiet_hours_end(now, message.channel)) is not None:
            message.next_attempt_at = ends
            batch.summary.postponed += 1
            return
    try:
        message.provider, provider = provider_for(message.channel)
    except ProviderNotConfiguredError as exc:
        _fail(message, str(exc), batch, PROVIDER_NOT_CONFIGURED)
        return
    message.attempts += 1
    try:
        message.provider_ref = provider.send(message)[:128]
    except SendError as exc:
        message.last_error, message.provider_code = str(exc)[:500], str(exc.code or "")[:64]
        if exc.permanent or message.attempts >= _config("MAX_ATTEMPTS"):
            _fail(message, message.last_error, batch, message.provider_code)
        else:
            message.next_attempt_at = now + retry_delay(message.attempts)
            batch.summary.retrying += 1
        return
    message.state, message.sent_at, message.last_error, message.provider_code = MessageState.SENT, now, "", ""
    batch.summary.sent += 1


def _fallback_key(message: Message, channel: str) -> str:
    suffix = f">{channel}"
    return message.dedupe_key[: 200 - len(suffix)] + suffix


def _fall_back(messages: list[Message], now: datetime) -> int:
    """Queue the next reachable channel of each message that gave up; returns how many were queued."""
    pending: list[tuple[Message, MessageTemplate, list[str]]] = []
    for message in messages:
        if not message.fallback_channels:
            continue
        routed = _route(
            member=message.member, channels=list(message.fallback_channels), template_code=message.template_code, purpose=message.purpose
        )
        if isinstance(routed, str):
            continue
        template, rest = routed
        if policy.members_over_cap(member_ids=[message.member_id], purpose=message.purpose, now=now):
            continue
        pending.append((message, template, rest))
    message_ids = _reserved_ids([template for _message, template, _rest in pending])
    queued = [
        _new_message(
            template,
            message.member,
            message.context,
            message.purpose,
            _fallback_key(message, template.channel),
            message.language,
            now,
            rest,
            message_id,
        )
        for (message, template, rest), message_id in zip(pending, message_ids, strict=True)
    ]
    Message.objects.bulk_create(queued, ignore_conflicts=True)
    return Message.objects.filter(unsubscribe_token__in=[m.unsubscribe_token for m in queued]).count()


def messages_send_due(*, now: datetime | None = None, batch_size: int = 500) -> SendSummary:
    """Send one batch of due messages. Rows are claimed with SKIP LOCKED, so several workers can share the outbox.

    A message whose provider gives up (or is not configured) is failed and its kind's next channel is queued.
    """
    now = now or timezone.now()
    summary = SendSummary()
    with transaction.atomic():
        claimed = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("member", "member__tier", "member__points_account")
            .filter(state=MessageState.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:batch_size]
        )
        if not claimed:
            return summary
        marketing = [m for m in claimed if m.purpose == MessagePurpose.MARKETING]
        consented: set[tuple[int, str]] = set()
        for channel in {m.channel for m in marketing}:
            ids = members_with_consent(channel=channel).filter(pk__in=[m.member_id for m in marketing]).values_list("pk", flat=True)
            consented.update((pk, channel) for pk in ids)
        batch = _Batch(now=now, consented=consented, summary=summary)
        for message in claimed:
            _attempt(message, batch)
        Message.objects.bulk_update(
            claimed,
            ["state", "attempts", "next_attempt_at", "last_error", "provider", "provider_ref", "provider_code", "sent_at", "updated_at"],
            batch_size=1000,
        )
        summary.fallbacks = _fall_back(batch.gave_up, now)
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


@dataclass(frozen=True)
class Receipt:
    """One delivery report from a provider: its reference for the message, the outcome and the provider's code."""

    reference: str
    delivered: bool
    code: str = ""
    at: datetime | None = None


@dataclass
class ReceiptResult:
    applied: int = 0
    repeated: int = 0
    unknown: list[str] = field(default_factory=list)


@transaction.atomic
def message_receipts_apply(*, provider: str, receipts: list[Receipt]) -> ReceiptResult:
    """Apply a provider's delivery reports: a sent message becomes delivered, or failed with the provider's code.

    A report for a message already delivered or failed changes nothing (providers repeat their reports);
    references this provider never gave us are returned in ``unknown`` and change nothing.
    """
    result = ReceiptResult()
    references = {receipt.reference for receipt in receipts if receipt.reference}
    messages = {
        m.provider_ref: m for m in Message.objects.select_for_update().filter(provider=provider, provider_ref__in=references).order_by("pk")
    }
    now = timezone.now()
    for receipt in receipts:
        message = messages.get(receipt.reference)
        if message is None:
            result.unknown.append(receipt.reference)
            continue
        if message.state != MessageState.SENT:
            result.repeated += 1
            continue
        message.provider_code = receipt.code[:64]
        if receipt.delivered:
            message.state, message.delivered_at = MessageState.DELIVERED, receipt.at or now
        else:
            message.state = MessageState.FAILED
            message.last_error = (_("Not delivered: %(code)s") % {"code": receipt.code})[:500]
        message.save(update_fields=["state", "delivered_at", "provider_code", "last_error", "updated_at"])
        result.applied += 1
    return result


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


# Opens and clicks -------------------------------------------------------------------------------


def message_record_open(*, token: str, now: datetime | None = None) -> bool:
    """Record the first open of the token's message (the email's pixel); later opens change nothing.

    One conditional UPDATE: opens racing each other leave the first time. True when this call recorded it.
    """
    message_id = message_id_from_token(token)
    if message_id is None:
        return False
    return bool(Message.objects.filter(pk=message_id, opened_at__isnull=True).update(opened_at=now or timezone.now()))


def message_record_click(*, token: str, now: datetime | None = None) -> str | None:
    """Count a click on the token's tracked link (which also opens the message) and return where it leads: the link
    stored on the message, never one given by the caller. None when the token is not valid or the message has no link.

    One UPDATE … RETURNING, so concurrent clicks each count and the first open stays.
    """
    message_id = message_id_from_token(token)
    if message_id is None:
        return None
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET click_count = click_count + 1, opened_at = COALESCE(opened_at, %s) "  # noqa: S608 - the model's table
            "WHERE id = %s AND link_url <> '' RETURNING link_url",
            [now or timezone.now(), message_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


# Templates --------------------------------------------------------------------------------------


def message_template_check(*, template: MessageTemplate) -> None:
    """Raise ``ApplicationError`` on the first subject or body (field ``subject_en``, ``body_zh_hans`` …) that is refused."""
    for text_field in ("subject", "body"):
        for language, _label in settings.LANGUAGES:
            translated = f"{text_field}_{language.replace('-', '_')}"
            compile_message_template(getattr(template, translated, "") or "", field=translated)
    _check_link(template)
    mapping = template.provider_params
    if mapping in (None, "", {}, []):
        template.provider_params = {}
        return
    if template.channel in WECHAT_CHANNELS:
        _check_wechat_params(mapping)
        return
    if isinstance(mapping, dict):
        variables = list(mapping.values())
        if not all(isinstance(param, str) and param for param in mapping):
            raise ApplicationError(
                "invalid_provider_params", _("Each provider template parameter needs a name."), fields={"provider_params": str(mapping)}
            )
    elif isinstance(mapping, list):
        variables = mapping
    else:
        raise ApplicationError(
            "invalid_provider_params",
            _("Provider template parameters are an object (named) or a list (positional) of message variables."),
            fields={"provider_params": str(mapping)},
        )
    for variable in variables:
        if not isinstance(variable, str) or variable not in TEMPLATE_VARIABLES:
            raise ApplicationError(
                "invalid_provider_params",
                _("%(variable)s is not a message variable (see the list of message variables).") % {"variable": variable},
                fields={"provider_params": str(variable)},
            )


def _check_link(template: MessageTemplate) -> None:
    """A tracked link leads to the template's link: a template using it without one would send an empty link."""
    if template.link_url and not template.link_url.startswith(("https://", "http://")):
        raise ApplicationError("invalid_link", _("The link must be an http(s) address."), fields={"link_url": template.link_url})
    texts = [
        str(getattr(template, f"{text_field}_{language.replace('-', '_')}", "") or "")
        for text_field in ("subject", "body")
        for language, _label in settings.LANGUAGES
    ]
    if not template.link_url and any("tracked_url" in text for text in [*texts, str(template.provider_params or "")]):
        raise ApplicationError(
            "link_required", _("{{ tracked_url }} leads to the template's link: fill in the link first."), fields={"link_url": ""}
        )


def _check_wechat_params(mapping: Any) -> None:
    """WeChat data keys take "subject", "body" or a text with message variables; keys starting with _ are options."""
    if not isinstance(mapping, dict) or not all(isinstance(key, str) and key for key in mapping):
        raise ApplicationError(
            "invalid_provider_params",
            _('WeChat parameters are an object of data keys, e.g. {"thing1": "subject", "time2": "{{ starts_at }}"}.'),
            fields={"provider_params": str(mapping)},
        )
    for key, spec in mapping.items():
        if not isinstance(spec, str) or not spec:
            raise ApplicationError("invalid_provider_params", _("%(key)s needs a text.") % {"key": key}, fields={"provider_params": key})
        if not key.startswith("_") and spec not in ("subject", "body"):
            compile_message_template(spec, field="provider_params")


@transaction.atomic
def message_template_save(*, template: MessageTemplate) -> MessageTemplate:
    """Save a template after checking every language's subject and body: they compile and use only documented variables."""
    message_template_check(template=template)
    template.save()
    return template
