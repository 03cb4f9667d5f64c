"""Posting deliveries: the request body, its signature headers, and many requests at once over shared connections."""

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.webhooks.destinations import destination_check
from apps.webhooks.models import RESPONSE_BODY_KEPT, WebhookDelivery, WebhookEndpoint
from apps.webhooks.signing import sign

USER_AGENT = "UserOps-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    body: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def request_body(delivery: WebhookDelivery) -> bytes:
    """``{"id", "type", "occurred_at", "data"}``: the event id is the same on every attempt and replay (dedupe on it)."""
    document = {
        "id": str(delivery.event_id),
        "type": delivery.type,
        "occurred_at": delivery.occurred_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


def request_headers(delivery: WebhookDelivery, *, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-UserOps-Event-Id": str(delivery.event_id),
        "X-UserOps-Event-Type": delivery.type,
        "X-UserOps-Timestamp": str(timestamp),
        "X-UserOps-Signature": sign(secret=secret, timestamp=timestamp, body=body),
    }


def _post(client: httpx.Client, delivery: WebhookDelivery, endpoint: WebhookEndpoint, refused: str) -> Outcome:
    started_at = timezone.now()
    began = time.perf_counter()
    if refused:
        return Outcome(started_at=started_at, duration_ms=0, error=refused)
    body = request_body(delivery)
    headers = request_headers(delivery, secret=endpoint.secret, body=body, timestamp=int(time.time()))
    try:
        response = client.post(endpoint.url, content=body, headers=headers)
        text = response.text[:RESPONSE_BODY_KEPT]
        return Outcome(started_at=started_at, duration_ms=_ms(began), status_code=response.status_code, body=text)
    except httpx.TimeoutException:
        return Outcome(started_at=started_at, duration_ms=_ms(began), error="timeout")
    except httpx.HTTPError as exc:
        return Outcome(started_at=started_at, duration_ms=_ms(began), error=f"{type(exc).__name__}: {exc}"[:255])


def _ms(began: float) -> int:
    return int((time.perf_counter() - began) * 1000)


def post_all(
    deliveries: Sequence[WebhookDelivery], endpoints: dict[int, WebhookEndpoint], *, concurrency: int | None = None
) -> list[Outcome]:
    """Post every delivery (``concurrency`` at a time) and answer each one's outcome, in order. Never raises for a
    receiver's fault: a timeout, a refused connection or a refused address is an outcome like a 500."""
    config = settings.USEROPS_WEBHOOKS
    concurrency = max(1, concurrency or config["CONCURRENCY"])
    refused = {}
    for endpoint in endpoints.values():
        try:
            destination_check(endpoint.url)
            refused[endpoint.pk] = ""
        except ApplicationError as exc:
            refused[endpoint.pk] = str(exc.message)[:255]
    timeout = httpx.Timeout(config["TIMEOUT_SECONDS"], connect=min(5.0, config["TIMEOUT_SECONDS"]))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False) as client:
        if concurrency == 1 or len(deliveries) == 1:
            return [_post(client, d, endpoints[d.endpoint_id], refused[d.endpoint_id]) for d in deliveries]
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(lambda d: _post(client, d, endpoints[d.endpoint_id], refused[d.endpoint_id]), deliveries))
