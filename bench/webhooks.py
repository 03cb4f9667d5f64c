"""Webhooks: (1) deliveries per second to a local receiver, beside the floor for the same requests; (2) the cost a
subscribed webhook adds to the write path that produces the events (points earn), beside the same earn unsubscribed.

(1) Events are emitted set-based into the outbox (one endpoint subscribed), then ``webhooks_dispatch`` fans them out
    and posts them: signed JSON, ``CONCURRENCY`` requests at a time, ``BATCH_SIZE`` deliveries claimed per batch, every
    attempt logged. The floor posts the same signed bodies to the same receiver with the same client, concurrency and
    batches, and writes the least SQL the same outcome needs: delivery rows inserted in one statement per batch and
    marked delivered in one UPDATE per batch (no outbox, no claim, no ordering check, no attempt log). Events belong
    to distinct members (a member's events go one at a time by design). The receiver is a threaded ``http.server``
    in its own process; it answers 200 to every POST and counts them.
(2) ``points_earn`` (the service: account lock, ledger row, lot, balance) for the same members, in rounds that
    alternate an active endpoint subscribed to ``points.earned`` with none; figures are milliseconds per earn.

Rounds alternate which side goes first; figures are the medians of the rounds; both sides are checked to have
delivered / written the same number of rows.
"""

import multiprocessing
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.core.outbox import EventType, outbox_emit_many
from apps.members.models import Member, PointsEntry
from apps.members.services.ledger import points_earn
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import endpoint_create, endpoint_update, webhooks_dispatch
from apps.webhooks.transport import request_body, request_headers
from bench.data import ensure_members

SIZES = {"quick": 10_000, "full": 100_000}
EARNS = {"quick": 1_000, "full": 2_000}
ROUNDS = 4
CONCURRENCY = 32
BATCH_SIZE = 1_000
EMIT_CHUNK = 5_000


# The receiver ------------------------------------------------------------------------------------


def _serve(port_queue: Any) -> None:
    received = 0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            nonlocal received
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received += 1
            self._answer(b"ok")

        def do_GET(self) -> None:
            self._answer(str(received).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the listen backlog: every sender connection is accepted, none reset

    server = Server(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _start_receiver() -> tuple[multiprocessing.Process, str]:
    context = multiprocessing.get_context("fork")
    ports = context.Queue()
    connection.close()  # the child must not inherit the parent's database connection
    process = context.Process(target=_serve, args=(ports,), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{ports.get(timeout=10)}"


def _received(base: str) -> int:
    return int(httpx.get(base + "/count", timeout=10).text)


# (1) Deliveries ----------------------------------------------------------------------------------


def _emit(count: int, start: int, run_id: str) -> None:
    for offset in range(0, count, EMIT_CHUNK):
        with transaction.atomic():
            outbox_emit_many(
                events=(
                    (EventType.POINTS_EARNED, start + i, {"member_id": start + i, "amount": 10, "source_ref": f"{run_id}-{start + i}"})
                    for i in range(offset, min(count, offset + EMIT_CHUNK))
                )
            )


def _product_round(count: int, start: int, run_id: str) -> float:
    _emit(count, start, run_id)  # the write path's share is measured in (2); here the delivery
    began = time.perf_counter()
    while webhooks_dispatch(seconds=3600)["retrying"]:  # a failed post is due again at once here (no back-off)
        pass
    return count / (time.perf_counter() - began)


def _floor_round(endpoint: WebhookEndpoint, count: int, start: int, run_id: str) -> float:
    now = timezone.now()
    began = time.perf_counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    with httpx.Client(timeout=30, limits=limits, trust_env=False) as client, ThreadPoolExecutor(CONCURRENCY) as pool:
        for offset in range(0, count, BATCH_SIZE):
            batch = [
                WebhookDelivery(
                    endpoint=endpoint,
                    event_id=uuid.uuid4(),
                    type=EventType.POINTS_EARNED,
                    member_id=start + i,
                    occurred_at=now,
                    payload={"member_id": start + i, "amount": 10, "source_ref": f"{run_id}-{start + i}"},
                    sequence=-1,
                    replay_of_id=None,
                )
                for i in range(offset, min(count, offset + BATCH_SIZE))
            ]
            WebhookDelivery.objects.bulk_create(batch)

            def post(delivery: WebhookDelivery) -> int:
                body = request_body(delivery)
                for _attempt in range(5):  # as the product does, a failed post is sent again
                    headers = request_headers(delivery, secret=endpoint.secret, body=body, timestamp=int(time.time()))
                    try:
                        return client.post(endpoint.url, content=body, headers=headers).status_code
                    except httpx.HTTPError:
                        continue
                return 0

            codes = list(pool.map(post, batch))
            assert all(code == 200 for code in codes)
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in batch]).update(
                status=DeliveryStatus.DELIVERED, delivered_at=timezone.now()
            )
    return count / (time.perf_counter() - began)


def _deliveries(size: str, base: str) -> dict[str, Any]:
    total = SIZES[size]
    per_round = total // ROUNDS
    run_id = uuid.uuid4().hex[:8]
    endpoint, _secret = endpoint_create(name=f"bench-{run_id}", url=f"{base}/hooks", event_types=[EventType.POINTS_EARNED], actor=None)
    product, floor = [], []
    received_before = _received(base)
    start = 10_000_000  # synthetic member ids: no member row is read or written on this path
    try:
        for round_number in range(ROUNDS):
            sides = ["product", "floor"] if round_number % 2 == 0 else ["floor", "product"]
            for side in sides:
                if side == "product":
                    product.append(_product_round(per_round, start, run_id))
                else:
                    floor.append(_floor_round(endpoint, per_round, start, run_id))
                print(
                    f"  round {round_number + 1}/{ROUNDS} {side}: {(product if side == 'product' else floor)[-1]:,.1f} deliveries/s",
                    flush=True,
                )
                start += per_round
    finally:
        _deactivate(endpoint)
    delivered = endpoint.deliveries.filter(status=DeliveryStatus.DELIVERED)
    product_rows = delivered.exclude(sequence=-1).count()
    floor_rows = delivered.filter(sequence=-1).count()
    received = _received(base) - received_before
    assert product_rows == floor_rows == per_round * ROUNDS, (product_rows, floor_rows)
    assert received == 2 * per_round * ROUNDS, received
    return {
        "name": f"webhook deliveries ({CONCURRENCY} concurrent)",
        "figure": statistics.median(product),
        "unit": "deliveries/s",
        "baseline": statistics.median(floor),
        "baseline_name": "signed posts + one INSERT and one UPDATE per batch",
        "size": total,
        "rounds": {"product": product, "floor": floor},
    }


def _deactivate(endpoint: WebhookEndpoint) -> None:
    endpoint.refresh_from_db()
    endpoint_update(
        endpoint=endpoint,
        name=endpoint.name,
        url=endpoint.url,
        event_types=endpoint.event_types,
        contact_email="",
        is_active=False,
        actor=None,
    )


# (2) The write path ------------------------------------------------------------------------------


def _earn_round(member_ids: list[int], count: int, run_id: str, label: str) -> float:
    began = time.perf_counter()
    for index in range(count):
        points_earn(
            member=member_ids[index % len(member_ids)], amount=10, reason="Benchmark purchase", source_ref=f"{label}-{run_id}-{index}"
        )
    return (time.perf_counter() - began) * 1000 / count


def _write_path(size: str, base: str) -> dict[str, Any]:
    count = EARNS[size] // ROUNDS
    ensure_members(1_000)
    member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:1_000])
    run_id = uuid.uuid4().hex[:8]
    endpoint, _secret = endpoint_create(name=f"bench-earn-{run_id}", url=f"{base}/hooks", event_types=[EventType.POINTS_EARNED], actor=None)
    _deactivate(endpoint)
    outbox_before = OutboxEvent.objects.count()
    subscribed, unsubscribed = [], []
    _earn_round(member_ids, 50, run_id, "warm")
    try:
        for round_number in range(ROUNDS):
            sides = ["on", "off"] if round_number % 2 == 0 else ["off", "on"]
            for side in sides:
                endpoint.refresh_from_db()
                endpoint_update(
                    endpoint=endpoint, name=endpoint.name, url=endpoint.url, event_types=endpoint.event_types,
                    contact_email="", is_active=side == "on", actor=None,
                )  # fmt: skip
                (subscribed if side == "on" else unsubscribed).append(_earn_round(member_ids, count, f"{run_id}{round_number}", side))
    finally:
        _deactivate(endpoint)
    entries = PointsEntry.objects.filter(source_ref__contains=f"-{run_id}")
    on_rows = entries.filter(source_ref__startswith="on-").count()
    off_rows = entries.filter(source_ref__startswith="off-").count()
    events = OutboxEvent.objects.count() - outbox_before
    assert on_rows == off_rows == count * ROUNDS, (on_rows, off_rows)
    assert events == on_rows, events  # one event per subscribed earn, none for the others
    OutboxEvent.objects.filter(type=EventType.POINTS_EARNED, payload__source_ref__startswith="on-").delete()
    return {
        "name": "points earn with a webhook subscribed",
        "figure": statistics.median(subscribed),
        "unit": "ms/earn",
        "baseline": statistics.median(unsubscribed),
        "baseline_name": "the same earn, nobody subscribed",
        "size": count * ROUNDS,
        "rounds": {"subscribed": subscribed, "unsubscribed": unsubscribed},
    }


def run(size: str) -> list[dict[str, Any]]:
    settings.USEROPS_WEBHOOKS = {
        **settings.USEROPS_WEBHOOKS,
        "ALLOW_LOCAL_URLS": True,
        "CONCURRENCY": CONCURRENCY,
        "BATCH_SIZE": BATCH_SIZE,
        "FAN_OUT_CHUNK": 5_000,
        "FIRST_RETRY_SECONDS": 0,
    }
    receiver, base = _start_receiver()
    try:
        return [_write_path(size, base), _deliveries(size, base)]
    finally:
        receiver.terminate()
        receiver.join()
