"""Bounded retries of transactions that PostgreSQL aborted for a serialization failure or a deadlock."""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def is_retryable_database_error(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def retry_on_conflict(attempts: int = 3) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the function in its own transaction, again when the database asks for a retry."""

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(1, attempts + 1):
                try:
                    with transaction.atomic():
                        return func(*args, **kwargs)
                except OperationalError as exc:
                    if attempt == attempts or not is_retryable_database_error(exc) or transaction.get_connection().in_atomic_block:
                        raise
                    logger.warning("Retrying %s after %s (attempt %s)", func.__qualname__, exc, attempt)
                    time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311
            raise AssertionError("unreachable")

        return wrapper

    return decorator
