"""A real HTTP server for benchmarks: gunicorn on loopback, started and stopped by the benchmark."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STOP_SECONDS = 60
READY_SECONDS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answering(base: str, workers: int) -> None:
    """Before the first measured request, a few answers in a row: the socket is bound before the workers have loaded
    the project, and on a loaded machine a burst of requests sent then can queue past the load generator's timeout."""
    deadline = time.monotonic() + READY_SECONDS
    answered = 0
    with httpx.Client(base_url=base, timeout=READY_SECONDS) as client:
        while answered < 2 * workers and time.monotonic() < deadline:
            try:
                client.get("/health/")
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            answered += 1


@contextlib.contextmanager
def gunicorn(workers: int = 2) -> Iterator[str]:
    # A fixed port when the machine reserves one for this run; any free one otherwise.
    port = int(os.environ.get("USEROPS_BENCH_PORT") or 0) or free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    command = [sys.executable, "-m", "gunicorn", "bench.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--log-level", "warning", "--timeout", "120"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        _wait_until_answering(base, workers)
        yield base
    finally:
        process.terminate()
        try:
            # On a loaded machine the workers may take a while to finish their last requests and exit.
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
