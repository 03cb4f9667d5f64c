"""The one place endpoints and deliveries are locked. An endpoint before its deliveries; several in key order.

Deliveries are claimed with ``FOR UPDATE SKIP LOCKED``, so two dispatchers never take the same row and neither
waits for the other.
"""

from collections.abc import Iterable

from django.db.models import QuerySet

from apps.webhooks.models import WebhookDelivery, WebhookEndpoint


def lock_endpoint(*, endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)


def lock_endpoints(*, endpoint_ids: Iterable[int]) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.select_for_update().filter(pk__in=set(endpoint_ids)).order_by("pk"))


def claim_deliveries(*, candidates: QuerySet[WebhookDelivery], limit: int) -> list[WebhookDelivery]:
    """Lock up to ``limit`` of ``candidates`` that no other transaction holds, in key order."""
    return list(candidates.select_for_update(skip_locked=True, of=("self",)).order_by("pk")[:limit])
