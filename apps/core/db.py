from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction
from psycopg.errors import QueryCanceled

from apps.core.errors import ApplicationError


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
