"""A small closed-loop HTTP load generator: N threads, each sending its share of the requests."""

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from django.db import connection

from bench.server import gunicorn

MakeRequest = Callable[[httpx.Client, int], httpx.Response]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    seconds: float
    p95_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def hammer(base_url: str, make_request: MakeRequest, *, total: int, threads: int = 8) -> LoadResult:
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def worker(offset: int) -> None:
        nonlocal failures
        local, failed = [], 0
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for index in range(offset, total, threads):
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


def against_minimal_view(name: str, make_request: MakeRequest, *, total: int, threads: int = 8) -> list[dict[str, Any]]:
    """Throughput and p95 of ``make_request`` beside the minimal view doing one INSERT, both on the same gunicorn."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_points_baseline "
            "(id bigserial PRIMARY KEY, member_id bigint, amount int, created_at timestamptz)"
        )

    def baseline(client: httpx.Client, index: int) -> httpx.Response:
        return client.post(f"/bench/baseline/points/{index}/")

    with gunicorn(workers=2) as base_url:
        hammer(base_url, baseline, total=200, threads=threads)  # warm up both worker processes
        base = hammer(base_url, baseline, total=total, threads=threads)
        real = hammer(base_url, make_request, total=total, threads=threads)
    if real.failures or base.failures:
        raise RuntimeError(f"benchmark requests failed: api={real.failures} baseline={base.failures}")
    shape, baseline_name = f"{total} requests, {threads} clients", "minimal view, one INSERT"
    return [
        {
            "name": f"{name} over HTTP",
            "figure": round(real.per_second, 1),
            "unit": "requests/s",
            "baseline": round(base.per_second, 1),
            "baseline_name": baseline_name,
            "size": shape,
        },
        {
            "name": f"{name} over HTTP, p95 latency",
            "figure": round(real.p95_ms, 2),
            "unit": "ms",
            "baseline": round(base.p95_ms, 2),
            "baseline_name": baseline_name,
            "size": shape,
        },
    ]
