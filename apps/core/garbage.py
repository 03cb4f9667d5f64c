"""Pausing Python's cyclic garbage collector around one chunk of a set-based job.

A chunk builds tens of thousands of short-lived objects (rows, ledger moves, partial model instances) that
reference counting frees when the chunk is done. While they live, they push the collector into full passes,
and a full pass walks every object of the process (hundreds of thousands in a worker that has loaded the
project): about a tenth of a campaign run's time went there. Paused for the chunk, the collector runs again as
usual afterwards, so garbage with cycles is still collected, one chunk later at most.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_collector_paused() -> Iterator[None]:
    """No cyclic collection inside (nested uses keep it paused until the outermost ends)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
