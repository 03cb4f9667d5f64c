from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.core.models import ApiClient
from apps.core.outbox import EventType, event_types_missing_scopes
from apps.webhooks.models import OPEN_STATUSES, DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint


def subscribed_event_types() -> set[str]:
    """Every event type some active endpoint wants (the outbox asks, through the shared cache)."""
    types: set[str] = set()
    for chosen in WebhookEndpoint.objects.filter(is_active=True).values_list("event_types", flat=True):
        types.update(chosen or [])
    return types


def active_endpoints() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(is_active=True).select_related("api_client").order_by("pk"))


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


def client_endpoints(*, client: ApiClient) -> QuerySet[WebhookEndpoint]:
    """The endpoints an API client registered: the only ones it may see or change through the API."""
    return WebhookEndpoint.objects.filter(api_client=client).order_by("pk")


def client_endpoint_get(*, client: ApiClient, pk: int) -> WebhookEndpoint:
    """One of the client's endpoints; another's (or staff's) is answered as missing, not as forbidden."""
    return get_object_or_404(client_endpoints(client=client), pk=pk)


def endpoint_deliveries(*, endpoint: WebhookEndpoint, status: str = "", event_type: str = "") -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log, newest first, optionally of one status or event type."""
    deliveries = endpoint.deliveries.order_by("-pk")
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(type=event_type)
    return deliveries


def endpoint_delivery_get(*, endpoint: WebhookEndpoint, pk: int) -> WebhookDelivery:
    return get_object_or_404(endpoint.deliveries, pk=pk)


def client_unreadable_event_types(*, client: ApiClient) -> list[str]:
    """The event types whose data the client's key may not read (now): their deliveries are hidden from it."""
    return sorted(event_types_missing_scopes(event_types=EventType.values, scopes=client.scopes))


def client_endpoint_deliveries(
    *, client: ApiClient, endpoint: WebhookEndpoint, status: str = "", event_type: str = ""
) -> QuerySet[WebhookDelivery]:
    """The delivery log as the client may read it: without the payloads of types its key no longer covers."""
    deliveries = endpoint_deliveries(endpoint=endpoint, status=status, event_type=event_type)
    return deliveries.exclude(type__in=client_unreadable_event_types(client=client))


def client_endpoint_delivery_get(*, client: ApiClient, endpoint: WebhookEndpoint, pk: int) -> WebhookDelivery:
    return get_object_or_404(client_endpoint_deliveries(client=client, endpoint=endpoint), pk=pk)
