"""A small closed-loop HTTP load generator: N threads, each sending its share of the requests."""

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    seconds: float
    p95_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def hammer(base_url: str, make_request: Callable[[httpx.Client, int], httpx.Response], *, total: int, threads: int = 8) -> LoadResult:
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
