"""Endpoints that other systems register to hear about changes, and every delivery made to them.

An endpoint's secret signs each request (HMAC-SHA256); it is shown once, when made or rotated, and kept out of the
audit trail. A delivery is one event for one endpoint: it is posted until the receiver answers 2xx, with back-off,
for the documented period (docs/webhooks.md), then it is dead and the endpoint is failing. Each attempt is kept.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix that marks a secret, not one
RESPONSE_BODY_KEPT = 500
TEST_EVENT_TYPE = "webhook.test"


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class EndpointStatus(models.TextChoices):
    HEALTHY = "healthy", _("Healthy")
    FAILING = "failing", _("Failing")


class WebhookEndpoint(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(_("URL"), max_length=500, help_text=_("HTTPS address that receives the events (POST)."))
    secret = models.CharField(_("secret"), max_length=100, editable=False)
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    status = models.CharField(_("status"), max_length=10, choices=EndpointStatus.choices, default=EndpointStatus.HEALTHY, editable=False)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True, editable=False)
    last_failure = models.CharField(_("last failure"), max_length=255, blank=True, editable=False)
    contact_email = models.EmailField(
        _("contact email"), blank=True, help_text=_("Told by email when a delivery fails for good and the endpoint is marked failing.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set when a trusted system registered the endpoint through the API: only that client sees it there.
    api_client = models.ForeignKey(
        "core.ApiClient",
        verbose_name=_("API client"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="webhook_endpoints",
    )
    history = AuditHistory(excluded_fields=["secret", "updated_at"])

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def secret_hint(self) -> str:
        return f"{self.secret[: len(SECRET_PREFIX) + 4]}…" if self.secret else ""


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    DEAD = "dead", _("Failed for good")


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class WebhookDelivery(models.Model):
    """One event for one endpoint. ``sequence`` is the event's place in the outbox: a member's deliveries to an
    endpoint go out in that order (a replay or a test event stands outside it)."""

    endpoint = models.ForeignKey(WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.PROTECT, related_name="deliveries")
    event_id = models.UUIDField(_("event ID"))
    type = models.CharField(_("event type"), max_length=64)
    member_id = models.BigIntegerField(_("member ID"), null=True, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    payload = models.JSONField(_("data"), default=dict)
    sequence = models.BigIntegerField(_("sequence"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    response_body = models.CharField(_("response body"), max_length=RESPONSE_BODY_KEPT, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", verbose_name=_("replay of"), on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("replayed by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            # The dispatcher may run twice over the same outbox rows: an event reaches an endpoint once (replays aside).
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], condition=Q(replay_of__isnull=True), name="webhookdelivery_once_per_endpoint"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due_idx"),
            models.Index(fields=["endpoint", "-id"], name="webhookdelivery_endpoint_idx"),
            # The delivery log's search, by member ID (newest first) or by event ID, without reading the table.
            models.Index(fields=["member_id", "-id"], name="webhookdelivery_member_idx"),
            models.Index(fields=["event_id"], name="webhookdelivery_event_idx"),
            models.Index(
                fields=["endpoint", "member_id", "sequence"],
                condition=Q(status__in=["pending", "sending"]),
                name="webhookdelivery_open_order_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} → {self.endpoint_id} ({self.event_id})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, how long, and what the receiver answered (or why there was no answer)."""

    delivery = models.ForeignKey(WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    response_body = models.CharField(_("response body"), max_length=RESPONSE_BODY_KEPT, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
