from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.webhooks.models import OPEN_STATUSES, DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint


def subscribed_event_types() -> set[str]:
    """Every event type some active endpoint wants (the outbox asks, through the shared cache)."""
    types: set[str] = set()
    for chosen in WebhookEndpoint.objects.filter(is_active=True).values_list("event_types", flat=True):
        types.update(chosen or [])
    return types


def active_endpoints() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(is_active=True).order_by("pk"))


def failing_endpoints() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(status=EndpointStatus.FAILING).order_by("name")


def deliveries_due(*, now: datetime | None = None) -> QuerySet[WebhookDelivery]:
    """Deliveries to post now: waiting and due, or claimed by a sender whose lease ran out (it died).

    A member's delivery waits while an earlier one of the same member to the same endpoint is still open, so a
    receiver never hears of a later change before an earlier one. Replays and test events stand outside that order.
    """
    now = now or timezone.now()
    earlier_open = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        member_id=OuterRef("member_id"),
        sequence__lt=OuterRef("sequence"),
        status__in=OPEN_STATUSES,
        replay_of__isnull=True,
    )
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    in_order = Q(member_id__isnull=True) | Q(replay_of__isnull=False) | ~Exists(earlier_open)
    return WebhookDelivery.objects.filter(due, in_order, endpoint__is_active=True)


def delivery_counts(*, endpoint: WebhookEndpoint) -> dict[str, int]:
    """How many of the endpoint's deliveries are in each status."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    for row in endpoint.deliveries.values("status").order_by().annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts
