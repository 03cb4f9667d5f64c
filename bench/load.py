"""A small closed-loop HTTP load generator: N threads, each sending its share of the requests."""

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.server import gunicorn

MakeRequest = Callable[[httpx.Client, int], httpx.Response]
ROUNDS = 5
# On a machine shared with other work a request can queue behind many; a slow answer is measured, not dropped.
REQUEST_TIMEOUT_SECONDS = 120
WARM_UP = 200  # requests a side before the rounds: both worker processes connected and their code paths imported


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    seconds: float
    p95_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def hammer(base_url: str, make_request: MakeRequest, *, start: int = 0, total: int, threads: int = 8) -> LoadResult:
    """Send requests ``start`` … ``start + total - 1`` from ``threads`` clients, each waiting for its answer."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def worker(offset: int) -> None:
        nonlocal failures
        local, failed = [], 0
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            for index in range(start + offset, start + total, threads):
                started = time.perf_counter()
                response = make_request(client, index)
                local.append((time.perf_counter() - started) * 1000)
                failed += response.status_code >= 300
        with lock:
            latencies.extend(local)
            failures += failed

    pool = [threading.Thread(target=worker, args=(offset,)) for offset in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else 0.0
    return LoadResult(requests=total, failures=failures, seconds=elapsed, p95_ms=p95)


def beside_floor(
    name: str,
    *,
    api: MakeRequest,
    floor: MakeRequest,
    rows_written: Callable[[], tuple[int, int]],
    total: int,
    rounds: int = ROUNDS,
    threads: int = 8,
) -> list[dict[str, Any]]:
    """The real API request beside its floor view, on the same gunicorn, alternating over ``rounds`` rounds.

    Each side sends ``WARM_UP + total`` requests with indexes 0 … ``WARM_UP + total - 1`` (the warm-up first, then
    ``total / rounds`` a round; the side going first alternates), so each makes its own rows. The figures are the
    medians of the rounds; ``rows_written`` answers (api rows, floor rows) and both must equal the requests sent.
    """
    per_round = total // rounds
    api_rounds: list[LoadResult] = []
    floor_rounds: list[LoadResult] = []
    with gunicorn(workers=2) as base_url:
        hammer(base_url, api, total=WARM_UP, threads=threads)
        hammer(base_url, floor, total=WARM_UP, threads=threads)
        for number in range(rounds):
            start = WARM_UP + number * per_round
            sides = [(api, api_rounds), (floor, floor_rounds)]
            for make_request, results in sides if number % 2 == 0 else reversed(sides):
                results.append(hammer(base_url, make_request, start=start, total=per_round, threads=threads))
    failures = sum(result.failures for result in api_rounds + floor_rounds)
    if failures:
        raise RuntimeError(f"{name}: {failures} benchmark requests failed")
    sent = WARM_UP + per_round * rounds
    api_rows, floor_rows = rows_written()
    if api_rows != sent or floor_rows != sent:
        raise RuntimeError(f"{name}: {sent} requests a side, but the API wrote {api_rows} rows and the floor {floor_rows}")
    shape = f"{per_round * rounds} requests a side in {rounds} alternating rounds, {threads} clients, median"
    baseline_name = "floor view: the least the operation needs, raw SQL, one transaction"
    return [
        {
            "name": f"{name} over HTTP",
            "figure": round(statistics.median(result.per_second for result in api_rounds), 1),
            "unit": "requests/s",
            "baseline": round(statistics.median(result.per_second for result in floor_rounds), 1),
            "baseline_name": baseline_name,
            "size": shape,
        },
        {
            "name": f"{name} over HTTP, p95 latency",
            "figure": round(statistics.median(result.p95_ms for result in api_rounds), 2),
            "unit": "ms",
            "baseline": round(statistics.median(result.p95_ms for result in floor_rounds), 2),
            "baseline_name": baseline_name,
            "size": shape,
        },
    ]
