import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction
from psycopg.errors import QueryCanceled

from apps.core.errors import ApplicationError

Params = ParamSpec("Params")
Result = TypeVar("Result")


def atomic_checks_first(service: Callable[Params, Result]) -> Callable[Params, Result]:
    """Run ``service`` in the caller's transaction without a savepoint of its own, or in a new transaction if none.

    For a service that takes its locks and makes every check (raising every refusal) before its first write, and
    writes inside ``transaction.atomic(savepoint=False)``. A refusal then leaves the caller's transaction usable and
    with nothing to take back (the idempotent API stores the refused answer in it), and the savepoint's two round
    trips (SAVEPOINT, RELEASE) are saved; an error while writing marks the caller's transaction for rollback, so
    nothing is half-written.
    """

    @functools.wraps(service)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        if connection.in_atomic_block:
            return service(*args, **kwargs)
        with transaction.atomic():
            return service(*args, **kwargs)

    return run


@contextmanager
def statement_timeout(*, milliseconds: int, refusal: ApplicationError) -> Iterator[None]:
    """Statements inside stop after ``milliseconds`` on PostgreSQL, and ``refusal`` is raised instead.

    The server cancels the query itself, so a worker that was killed meanwhile leaves no backend running. The limit is
    set for the enclosing transaction only and put back afterwards. SQLite has no such limit: the bounds on what may be
    asked are the guard there.
    """
    if connection.vendor != "postgresql":
        yield
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            (previous,) = cursor.fetchone()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(milliseconds)])
            yield
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if isinstance(exc.__cause__, QueryCanceled):
            raise refusal from exc
        raise
