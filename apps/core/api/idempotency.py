"""``Idempotency-Key`` for API writes that move points, benefits or registrations.

Protocol, per (caller scope, key), all in one transaction:
1. the record is claimed with one ``INSERT … ON CONFLICT DO NOTHING RETURNING``: a new record is this
   transaction's until it commits (a concurrent request with the same key waits for that commit, then finds the
   record completed and replays it; if this transaction rolls back, the record goes with it and the other runs);
2. a record that already existed is locked with NOWAIT — a concurrent request holding it gets 409;
3. a completed record with the same request fingerprint replays the stored status and body, with a
   different fingerprint it is 422;
4. otherwise the view runs inside a savepoint of that transaction and its answer is stored with it:
   the effect and the stored answer commit together or not at all. A 4xx answer is stored too (the
   same request would fail the same way); an unexpected error stores nothing, so a retry runs again.
   A view whose every write is one call of a service that leaves nothing behind when it refuses declares
   ``savepoint=False``: an atomic service's own savepoint takes back its partial writes, a service under
   ``atomic_checks_first`` refuses before it writes, and the two round trips of a savepoint here are saved.
"""

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.exceptions import api_exception_handler
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotency_scope(request: Request) -> str:
    auth = request.auth
    if isinstance(auth, ApiClient):
        return f"client:{auth.pk}"
    member_id = getattr(auth, "member_id", None)
    if member_id is not None:
        return f"member:{member_id}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    raise exceptions.NotAuthenticated()


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _stored_body(response: Response) -> Any:
    return json.loads(JSONRenderer().render(response.data) or b"null")


def _claim(scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
    """The record of (scope, key), held by the current transaction: inserted now, or the existing one locked."""
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scope, key, fingerprint, created_at) VALUES (%s, %s, %s, %s)"  # noqa: S608
            " ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            # The time as a parameter, adapted by the backend: the embedded SQLite database has no now().
            [scope, key, fingerprint, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        inserted = cursor.fetchone()
    if inserted is not None:
        return IdempotencyRecord(pk=inserted[0], scope=scope, key=key, fingerprint=fingerprint)
    return _lock(scope, key)


def _lock(scope: str, key: str) -> IdempotencyRecord:
    try:
        return IdempotencyRecord.objects.select_for_update(nowait=True).get(scope=scope, key=key)
    except OperationalError as exc:
        raise ApplicationError(
            "idempotency_in_progress",
            _("A request with this Idempotency-Key is still being processed; retry later."),
            http_status=409,
        ) from exc


def run_idempotent(request: Request, action: Callable[[], Response], context: dict[str, Any], *, savepoint: bool = True) -> Response:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise ApplicationError("idempotency_key_missing", _("This endpoint requires an Idempotency-Key header."), http_status=400)
    if len(key) > MAX_KEY_LENGTH:
        raise ApplicationError(
            "idempotency_key_invalid",
            _("The Idempotency-Key header must be at most %(max)d characters.") % {"max": MAX_KEY_LENGTH},
            http_status=400,
        )
    scope = idempotency_scope(request)
    fingerprint = request_fingerprint(request)

    with transaction.atomic():
        record = _claim(scope, key, fingerprint)
        if record.fingerprint != fingerprint:
            raise ApplicationError(
                "idempotency_key_reused",
                _("This Idempotency-Key was already used with a different request."),
                http_status=422,
            )
        if record.completed_at is not None:
            return Response(record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"})

        try:
            with transaction.atomic() if savepoint else contextlib.nullcontext():
                response = action()
        except (ApplicationError, exceptions.APIException) as exc:
            response = api_exception_handler(exc, context)
        if response.status_code >= 500:
            return response
        record.response_status = response.status_code
        record.response_body = _stored_body(response)
        record.completed_at = timezone.now()
        record.save(update_fields=["response_status", "response_body", "completed_at"])
        return response


def idempotent(view_method: Callable[..., Response] | None = None, *, savepoint: bool = True) -> Any:
    """Decorate an APIView handler (``post``, or an action) to require and honour ``Idempotency-Key``.

    ``@idempotent`` runs the handler in a savepoint. ``@idempotent(savepoint=False)`` is only for a handler that
    writes nothing outside one call of an atomic service (see the module's docstring).
    """

    def decorate(method: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(method)
        def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            context = {"view": self, "args": args, "kwargs": kwargs, "request": request}
            return run_idempotent(request, lambda: method(self, request, *args, **kwargs), context, savepoint=savepoint)

        return wrapper

    return decorate(view_method) if view_method is not None else decorate
