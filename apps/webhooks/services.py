"""Endpoints (staff), the dispatcher that turns the outbox into deliveries, and posting them with retries.

Delivery is at-least-once: a receiver may see an event twice (a lost answer, a sender that died after posting) and
dedupes on the event id. The steps are each safe to run twice and to die halfway:

1. ``outbox_fan_out``: in one transaction, claim the oldest outbox rows (SKIP LOCKED), insert one delivery per
   subscribed active endpoint, delete the rows.
2. ``deliveries_send_due``: claim due deliveries (SKIP LOCKED) and mark them sending with a lease; post them outside
   any transaction; record every outcome and attempt in one transaction. A sender that dies leaves its deliveries
   claimed until the lease runs out, then another sends them again.
"""

import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, User
from apps.core.outbox import EventType, event_types_missing_scopes, outbox_claim, outbox_delete, outbox_subscriptions_changed
from apps.core.queueing import enqueue_on_commit
from apps.webhooks.destinations import destination_check
from apps.webhooks.locks import claim_deliveries, lock_endpoint, lock_endpoints
from apps.webhooks.models import (
    TEST_EVENT_TYPE,
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    generate_secret,
)
from apps.webhooks.selectors import active_endpoints, deliveries_due
from apps.webhooks.transport import Outcome, post_all

logger = logging.getLogger("userops.webhooks")
DISPATCH_TASK = "webhooks.dispatch"


def _config(key: str) -> Any:
    return settings.USEROPS_WEBHOOKS[key]


# Endpoints ---------------------------------------------------------------------------------------


def _clean(*, name: str, url: str, event_types: Sequence[str], contact_email: str) -> dict[str, Any]:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("name_required", _("Give the endpoint a name."), fields={"name": ""})
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [event_type for event_type in chosen if event_type not in EventType.values]
    if unknown:
        raise ApplicationError(
            "unknown_event_type", _("Unknown event type: %(types)s.") % {"types": ", ".join(unknown)}, fields={"event_types": unknown}
        )
    if not chosen:
        raise ApplicationError("event_types_required", _("Choose at least one event type."), fields={"event_types": []})
    return {
        "name": name[:100],
        "url": destination_check(url),
        "event_types": sorted(chosen),
        "contact_email": (contact_email or "").strip(),
    }


def _readable_by(api_client: ApiClient | None, event_types: Sequence[str]) -> None:
    """An endpoint a client owns may carry only what the client may read through the API."""
    if api_client is None:
        return
    missing = event_types_missing_scopes(event_types=event_types, scopes=api_client.scopes)
    if missing:
        raise ApplicationError(
            "scope_required",
            " ".join(
                _("The event type %(type)s needs the scope %(scopes)s, which this API key lacks.")
                % {"type": event_type, "scopes": ", ".join(scopes)}
                for event_type, scopes in missing.items()
            ),
            fields={"event_types": missing},
            http_status=403,
        )


def _deliverable_types(endpoint: WebhookEndpoint) -> set[str]:
    """The endpoint's types its owner may still read: a client that lost a scope stops receiving what needs it."""
    types = set(endpoint.event_types)
    if endpoint.api_client is None:
        return types
    return types - set(event_types_missing_scopes(event_types=types, scopes=endpoint.api_client.scopes))


def _unique_name(name: str, exclude_pk: int | None = None) -> None:
    if WebhookEndpoint.objects.exclude(pk=exclude_pk).filter(name=name).exists():
        raise ApplicationError("duplicate_name", _("An endpoint with this name already exists."), fields={"name": name})


@transaction.atomic
def endpoint_create(
    *,
    name: str,
    url: str,
    event_types: Sequence[str],
    actor: User | None,
    contact_email: str = "",
    is_active: bool = True,
    api_client: ApiClient | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint (for staff, or owned by the API client that asks); returns it with its signing secret,
    which the caller copies now (it is never shown again)."""
    fields = _clean(name=name, url=url, event_types=event_types, contact_email=contact_email)
    _readable_by(api_client, fields["event_types"])
    _unique_name(fields["name"])
    endpoint = WebhookEndpoint(**fields, is_active=is_active, secret=generate_secret(), created_by=actor, api_client=api_client)
    endpoint._history_user = actor
    endpoint.save()
    outbox_subscriptions_changed()
    return endpoint, endpoint.secret


@transaction.atomic
def endpoint_update(
    *, endpoint: WebhookEndpoint, name: str, url: str, event_types: Sequence[str], contact_email: str, is_active: bool, actor: User | None
) -> WebhookEndpoint:
    fields = _clean(name=name, url=url, event_types=event_types, contact_email=contact_email)
    endpoint = lock_endpoint(endpoint_id=endpoint.pk)
    _readable_by(endpoint.api_client, fields["event_types"])
    _unique_name(fields["name"], exclude_pk=endpoint.pk)
    for field, value in {**fields, "is_active": is_active}.items():
        setattr(endpoint, field, value)
    endpoint._history_user = actor
    endpoint.save()
    outbox_subscriptions_changed()
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: User | None) -> str:
    """A new secret signs every request from now on (retries of older deliveries too); the old one stops at once."""
    endpoint = lock_endpoint(endpoint_id=endpoint.pk)
    endpoint.secret = generate_secret()
    endpoint._history_user = actor
    endpoint._change_reason = "secret rotated"
    endpoint.save()
    return endpoint.secret


@transaction.atomic
def endpoint_mark_healthy(*, endpoint: WebhookEndpoint, actor: User | None) -> WebhookEndpoint:
    """Staff say the receiver is fixed: the notice goes away (a further dead delivery marks it failing again)."""
    endpoint = lock_endpoint(endpoint_id=endpoint.pk)
    if endpoint.status != EndpointStatus.FAILING:
        raise ApplicationError("endpoint_not_failing", _("The endpoint is not failing."), http_status=409)
    endpoint.status, endpoint.failing_since = EndpointStatus.HEALTHY, None
    endpoint._history_user = actor
    endpoint.save()
    return endpoint


def endpoint_send_test(*, endpoint: WebhookEndpoint, actor: User | None) -> WebhookDelivery:
    """Post a ``webhook.test`` event to the endpoint now and answer the delivery with the receiver's answer.

    It is logged like any delivery; if the receiver does not answer 2xx it is retried like any other.
    """
    with transaction.atomic():
        endpoint = lock_endpoint(endpoint_id=endpoint.pk)
        now = timezone.now()
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=uuid.uuid4(),
            type=TEST_EVENT_TYPE,
            occurred_at=now,
            payload={
                "endpoint_id": endpoint.pk,
                "message": "This is a test event from UserOps.",
                "sent_by_staff_id": actor.pk if actor else None,
            },
            status=DeliveryStatus.SENDING,
            lease_until=now + _lease(),
            replayed_by=actor,
        )
    _send_claimed([delivery], {endpoint.pk: endpoint}, concurrency=1)
    delivery.refresh_from_db()
    return delivery


# Replay ------------------------------------------------------------------------------------------


@transaction.atomic
def deliveries_replay(*, delivery_ids: Sequence[int], actor: User | None) -> int:
    """Send these deliveries' events again, as new deliveries with the same event ids (receivers dedupe on them).

    Each is posted as soon as possible, outside the member's order (the original is long decided). Returns how many.
    """
    originals = list(WebhookDelivery.objects.filter(pk__in=set(delivery_ids)).order_by("pk"))
    if not originals:
        raise ApplicationError("nothing_to_replay", _("Choose at least one delivery to replay."), fields={"deliveries": []})
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=original.endpoint_id,
                event_id=original.event_id,
                type=original.type,
                member_id=original.member_id,
                occurred_at=original.occurred_at,
                payload=original.payload,
                sequence=original.sequence,
                next_attempt_at=now,
                created_at=now,
                replay_of=original,
                replayed_by=actor,
            )
            for original in originals
        ]
    )
    enqueue_on_commit(DISPATCH_TASK)
    return len(originals)


# The dispatcher ----------------------------------------------------------------------------------


@transaction.atomic
def outbox_fan_out(*, limit: int | None = None) -> int:
    """One delivery per (outbox event, active endpoint subscribed to its type), for the oldest events; returns how
    many events were taken (0: the outbox is empty). Events nobody subscribes to any more are dropped."""
    events = outbox_claim(limit=limit or _config("FAN_OUT_CHUNK"))
    if not events:
        return 0
    endpoints = [(endpoint.pk, _deliverable_types(endpoint)) for endpoint in active_endpoints()]
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=endpoint_id,
                event_id=event.event_id,
                type=event.type,
                member_id=event.member_id,
                occurred_at=event.occurred_at,
                payload=event.payload,
                sequence=event.pk,
                next_attempt_at=now,
                created_at=now,
            )
            for event in events
            for endpoint_id, types in endpoints
            if event.type in types
        ],
        ignore_conflicts=True,
    )
    outbox_delete(ids=[event.pk for event in events])
    return len(events)


def _lease() -> timedelta:
    return timedelta(seconds=_config("TIMEOUT_SECONDS") * 2 + 60)


def retry_delay(attempts: int) -> timedelta:
    """After the ``attempts``-th failed attempt: FIRST_RETRY_SECONDS × 2^(attempts−1), at most MAX_RETRY_INTERVAL_SECONDS,
    each ±25 % at random so that many failed deliveries do not all come back at the same second."""
    base = min(_config("FIRST_RETRY_SECONDS") * 2 ** (max(attempts, 1) - 1), _config("MAX_RETRY_INTERVAL_SECONDS"))
    return timedelta(seconds=base * random.uniform(0.75, 1.25))  # noqa: S311 - jitter, not a secret


@dataclass
class SendResult:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def deliveries_send_due(*, limit: int | None = None, concurrency: int | None = None, now: datetime | None = None) -> SendResult:
    """Claim up to ``limit`` due deliveries, post them, record the outcomes."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = claim_deliveries(candidates=deliveries_due(now=now), limit=limit or _config("BATCH_SIZE"))
        if not claimed:
            return SendResult()
        lease_until = now + _lease()
        for delivery in claimed:
            delivery.status, delivery.lease_until = DeliveryStatus.SENDING, lease_until
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(status=DeliveryStatus.SENDING, lease_until=lease_until)
    endpoints = {endpoint.pk: endpoint for endpoint in WebhookEndpoint.objects.filter(pk__in={d.endpoint_id for d in claimed})}
    return _send_claimed(claimed, endpoints, concurrency=concurrency, now=now)


def _send_claimed(
    claimed: list[WebhookDelivery], endpoints: dict[int, WebhookEndpoint], *, concurrency: int | None, now: datetime | None = None
) -> SendResult:
    outcomes = post_all(claimed, endpoints, concurrency=concurrency)
    return deliveries_record(deliveries=claimed, outcomes=outcomes, now=now)


@transaction.atomic
def deliveries_record(*, deliveries: Sequence[WebhookDelivery], outcomes: Sequence[Outcome], now: datetime | None = None) -> SendResult:
    """Store what each attempt got: delivered on 2xx; otherwise another attempt after the back-off, or dead once the
    retry period (from the delivery's creation) would be over. An endpoint with a dead delivery is marked failing and
    its staff are told; one that delivers again is healthy."""
    now = now or timezone.now()
    period = timedelta(hours=_config("RETRY_PERIOD_HOURS"))
    result = SendResult(claimed=len(deliveries))
    attempts, dead_by_endpoint, delivered_endpoints = [], {}, set()
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        delivery.attempts += 1
        delivery.last_attempt_at = outcome.started_at
        delivery.response_code, delivery.response_body = outcome.status_code, outcome.body
        delivery.error, delivery.duration_ms = outcome.error, outcome.duration_ms
        delivery.lease_until = None
        if outcome.ok:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, outcome.started_at
            delivered_endpoints.add(delivery.endpoint_id)
            result.delivered += 1
        else:
            next_at = now + retry_delay(delivery.attempts)
            if next_at > delivery.created_at + period:
                delivery.status = DeliveryStatus.DEAD
                dead_by_endpoint.setdefault(delivery.endpoint_id, delivery)
                result.dead += 1
            else:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, next_at
                result.retrying += 1
        attempts.append(
            WebhookAttempt(
                delivery_id=delivery.pk,
                number=delivery.attempts,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
                response_code=outcome.status_code,
                response_body=outcome.body,
                error=outcome.error,
            )
        )
    _store_outcomes(deliveries)
    WebhookAttempt.objects.bulk_create(attempts)
    _endpoint_health(dead_by_endpoint, delivered_endpoints - set(dead_by_endpoint), now)
    return result


_OUTCOME_COLUMNS = (
    ("status", "text"),
    ("attempts", "integer"),
    ("next_attempt_at", "timestamptz"),
    ("last_attempt_at", "timestamptz"),
    ("delivered_at", "timestamptz"),
    ("response_code", "integer"),
    ("response_body", "text"),
    ("error", "text"),
    ("duration_ms", "integer"),
)


def _store_outcomes(deliveries: Sequence[WebhookDelivery]) -> None:
    """The outcome columns of every delivery of a batch, in one statement (the lease is let go)."""
    if connection.vendor != "postgresql":
        WebhookDelivery.objects.bulk_update(deliveries, [name for name, _type in _OUTCOME_COLUMNS] + ["lease_until"])
        return
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    names = ", ".join(name for name, _type in _OUTCOME_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _name, kind in _OUTCOME_COLUMNS)
    assignments = ", ".join(f"{name} = new.{name}" for name, _type in _OUTCOME_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS d SET {assignments}, lease_until = NULL"  # noqa: S608 (names are ours)
            f" FROM unnest(%s::bigint[], {arrays}) AS new(id, {names}) WHERE d.id = new.id",
            [[d.pk for d in deliveries], *([getattr(d, name) for d in deliveries] for name, _type in _OUTCOME_COLUMNS)],
        )


def _why(delivery: WebhookDelivery) -> str:
    if delivery.response_code is not None:
        return _("HTTP %(code)d after %(attempts)d attempts") % {"code": delivery.response_code, "attempts": delivery.attempts}
    return _("%(error)s after %(attempts)d attempts") % {"error": delivery.error or _("no answer"), "attempts": delivery.attempts}


def _endpoint_health(dead: dict[int, WebhookDelivery], recovered: set[int], now: datetime) -> None:
    to_check = set(dead) | recovered
    if not to_check or not (set(dead) or WebhookEndpoint.objects.filter(pk__in=recovered, status=EndpointStatus.FAILING).exists()):
        return
    for endpoint in lock_endpoints(endpoint_ids=to_check):
        if endpoint.pk in dead:
            delivery = dead[endpoint.pk]
            endpoint.last_failure = _("Event %(event)s (%(type)s) failed for good: %(why)s.") % {
                "event": delivery.event_id,
                "type": delivery.type,
                "why": _why(delivery),
            }
            newly = endpoint.status != EndpointStatus.FAILING
            endpoint.status = EndpointStatus.FAILING
            endpoint.failing_since = endpoint.failing_since or now
            endpoint.save(update_fields=["status", "failing_since", "last_failure", "updated_at"])
            logger.warning("webhook endpoint %s (%s) is failing: %s", endpoint.pk, endpoint.name, endpoint.last_failure)
            if newly and endpoint.contact_email:
                transaction.on_commit(lambda endpoint=endpoint: _tell_contact(endpoint))
        elif endpoint.status == EndpointStatus.FAILING:
            endpoint.status, endpoint.failing_since = EndpointStatus.HEALTHY, None
            endpoint.save(update_fields=["status", "failing_since", "updated_at"])
            logger.info("webhook endpoint %s (%s) delivers again", endpoint.pk, endpoint.name)


def _tell_contact(endpoint: WebhookEndpoint) -> None:
    subject = _("Webhook endpoint %(name)s is failing") % {"name": endpoint.name}
    body = _(
        "Deliveries to %(url)s failed for the whole retry period and were given up.\n\n%(failure)s\n\n"
        "Fix the receiver, then replay the failed deliveries from the endpoint's delivery log in the back office."
    ) % {"url": endpoint.url, "failure": endpoint.last_failure}
    try:
        send_mail(subject, body, None, [endpoint.contact_email])
    except Exception:  # the notice is on the endpoint list and in the log already; a mail fault must not hide it
        logger.exception("could not email the contact of webhook endpoint %s", endpoint.pk)


def webhooks_dispatch(*, seconds: float | None = None) -> dict[str, int]:
    """The beat job: move the outbox into deliveries, then post what is due, until both are empty or time is up."""
    deadline = time.monotonic() + (seconds if seconds is not None else _config("DISPATCH_SECONDS"))
    totals = {"events": 0, "delivered": 0, "retrying": 0, "dead": 0}
    while time.monotonic() < deadline:
        taken = outbox_fan_out()
        totals["events"] += taken
        if not taken:
            break
    while time.monotonic() < deadline:
        result = deliveries_send_due()
        if not result.claimed:
            break
        totals["delivered"] += result.delivered
        totals["retrying"] += result.retrying
        totals["dead"] += result.dead
    return totals
