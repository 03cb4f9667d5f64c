import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core import rate_limits
from apps.core.errors import ApplicationError
from apps.core.models import (
    AccessAction,
    AccessLogEntry,
    ApiClient,
    ApiScope,
    FailedTask,
    FailedTaskState,
    IdempotencyRecord,
    User,
    hash_secret,
)
from apps.core.queueing import enqueue_on_commit
from apps.core.redaction import REDACTED, redact_text


def user_set_language(*, user: User, language: str) -> User:
    if language not in dict(settings.LANGUAGES):
        raise ApplicationError("invalid_language", _("Unknown language: %(language)s") % {"language": language})
    user.language = language
    user.save(update_fields=["language"])
    return user


def _validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown:
        raise ApplicationError(
            "invalid_scope",
            _("Unknown API scopes: %(scopes)s") % {"scopes": ", ".join(unknown)},
            fields={"scopes": unknown},
        )
    return sorted(set(scopes))


@transaction.atomic
def api_client_create(*, name: str, scopes: list[str]) -> tuple[ApiClient, str]:
    """Create a trusted-system client; returns it with its key, which is never shown again."""
    if ApiClient.objects.filter(name=name).exists():
        raise ApplicationError("duplicate_name", _("An API client with this name already exists."), fields={"name": name})
    prefix, raw_key = ApiClient.generate_key()
    client = ApiClient.objects.create(name=name, scopes=_validate_scopes(scopes), key_prefix=prefix, key_hash=hash_secret(raw_key))
    return client, raw_key


@transaction.atomic
def api_client_update(*, client: ApiClient, name: str, scopes: list[str], is_active: bool) -> ApiClient:
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if ApiClient.objects.exclude(pk=client.pk).filter(name=name).exists():
        raise ApplicationError("duplicate_name", _("An API client with this name already exists."), fields={"name": name})
    client.name = name
    client.scopes = _validate_scopes(scopes)
    client.is_active = is_active
    client.save(update_fields=["name", "scopes", "is_active", "updated_at"])
    return client


@transaction.atomic
def api_client_rotate_key(*, client: ApiClient) -> str:
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    prefix, raw_key = ApiClient.generate_key()
    client.key_prefix = prefix
    client.key_hash = hash_secret(raw_key)
    client.save(update_fields=["key_prefix", "key_hash", "updated_at"])
    return raw_key


def personal_text_redact(*, texts: Sequence[str], member_scope: str) -> dict[str, list[int]]:
    """A person's identifiers out of core's stored text: idempotency answers and failed-task errors.

    An idempotency record of the member's own calls (``member_scope``) or whose stored answer mentions one of
    ``texts`` keeps its status and fingerprint (a retry is still recognised) but loses its body.
    """
    texts = [text for text in texts if text]
    mentions = Q(scope=member_scope)
    answers = IdempotencyRecord.objects.annotate(body_text=Cast("response_body", TextField()))
    for text in texts:
        mentions |= Q(body_text__contains=text)
    records = list(answers.filter(mentions).values_list("pk", flat=True))
    IdempotencyRecord.objects.filter(pk__in=records).update(response_body={"detail": REDACTED})
    failed = redact_text(FailedTask.objects.all(), fields=["exception", "traceback"], texts=texts)
    return {"idempotency_records": records, "failed_tasks": failed}


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Forget answers older than the documented lifetime (USEROPS['IDEMPOTENCY_KEY_TTL'])."""
    cutoff = (now or timezone.now()) - settings.USEROPS["IDEMPOTENCY_KEY_TTL"]
    deleted, _details = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# Access log ---------------------------------------------------------------------------------------


def client_ip(request: Any) -> str | None:
    """The caller's address; behind a proxy (``USEROPS_TRUST_X_FORWARDED_FOR``) the last hop the proxy appended."""
    meta = getattr(request, "META", {})
    if settings.USEROPS_TRUST_X_FORWARDED_FOR and meta.get("HTTP_X_FORWARDED_FOR"):
        return meta["HTTP_X_FORWARDED_FOR"].split(",")[-1].strip() or None
    return meta.get("REMOTE_ADDR") or None


def access_log_record(
    *,
    action: str,
    object_type: str,
    object_id: Any = "",
    request: Any = None,
    user: User | None = None,
    client: ApiClient | None = None,
    row_count: int | None = None,
    detail: str = "",
    object_ids: Sequence[Any] = (),
) -> AccessLogEntry:
    """Write one access-log row: who (staff user or API client), what, which object, from where, when.

    Written outside any surrounding transaction's fate only in the sense that it is its own INSERT; callers
    record views and exports after the data was read.
    """
    if user is None and request is not None:
        candidate = getattr(request, "user", None)
        user = candidate if isinstance(candidate, User) and candidate.is_authenticated else None
    if client is None and request is not None and isinstance(getattr(request, "auth", None), ApiClient):
        client = request.auth
    meta = getattr(request, "META", {}) if request is not None else {}
    return AccessLogEntry.objects.create(
        user=user,
        username=user.get_username() if user is not None else "",
        client=client,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        row_count=row_count,
        detail=detail[:255],
        object_ids=",".join(str(pk) for pk in object_ids),
        ip=client_ip(request) if request is not None else None,
        user_agent=(meta.get("HTTP_USER_AGENT") or "")[:255],
    )


# Staff sign-in guard ------------------------------------------------------------------------------
# Failed passwords are counted per account and per client address in the shared cache. Reaching a limit locks that
# account (or address) until the lock-out period has passed since its last failure, or until a superuser unlocks it.

LOGIN_OBJECT_TYPE = "core.user"


def _login_key(kind: str, value: str) -> str:
    return f"login-failures:{kind}:{hash_secret(value)}"


def _login_limits() -> dict[str, int]:
    return {"account": settings.USEROPS["LOGIN_MAX_FAILURES_PER_ACCOUNT"], "address": settings.USEROPS["LOGIN_MAX_FAILURES_PER_ADDRESS"]}


def _login_subjects(*, username: str, ip: str | None) -> dict[str, str]:
    subjects = {"account": username.strip()}
    if ip:
        subjects["address"] = ip
    return subjects


def staff_login_locked(*, username: str, ip: str | None) -> bool:
    """Whether sign-in is refused for this account or from this address, whatever the password."""
    limits = _login_limits()
    return any(
        rate_limits.counter_get(key=_login_key(kind, value)) >= limits[kind]
        for kind, value in _login_subjects(username=username, ip=ip).items()
    )


def staff_login_failed(*, username: str, request: Any) -> None:
    """Count a wrong password for the account and the address; the failure, and a lock when one starts, go to the access log."""
    ip = client_ip(request) if request is not None else None
    timeout = int(settings.USEROPS["LOGIN_LOCKOUT"].total_seconds())
    limits = _login_limits()
    account = username.strip()[:64]
    access_log_record(action=AccessAction.LOGIN_FAILED, object_type=LOGIN_OBJECT_TYPE, object_id=account, request=request)
    for kind, value in _login_subjects(username=username, ip=ip).items():
        if rate_limits.counter_add(key=_login_key(kind, value), timeout_seconds=timeout) == limits[kind]:
            access_log_record(
                action=AccessAction.LOGIN_LOCKED, object_type=LOGIN_OBJECT_TYPE, object_id=account, request=request, detail=kind
            )


def staff_login_succeeded(*, username: str) -> None:
    """A right password (on an account that was not locked) forgets the account's earlier failures."""
    rate_limits.counter_clear(key=_login_key("account", username.strip()))


def staff_login_unlock(*, username: str = "", ip: str = "", actor: User | None = None, request: Any = None) -> None:
    """Lift the lock on an account, an address or both, and say who did it in the access log."""
    if not username.strip() and not ip.strip():
        raise ApplicationError("nothing_to_unlock", _("Name an account or a client address to unlock."))
    for kind, value in _login_subjects(username=username, ip=ip.strip()).items():
        if value:
            rate_limits.counter_clear(key=_login_key(kind, value))
    detail = ", ".join(
        part for part in (username.strip() and f"account {username.strip()}", ip.strip() and f"address {ip.strip()}") if part
    )
    access_log_record(
        action=AccessAction.LOGIN_UNLOCKED,
        object_type=LOGIN_OBJECT_TYPE,
        object_id=username.strip()[:64],
        request=request,
        user=actor,
        detail=detail,
    )


# Failed background tasks --------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def failed_task_record(
    *, task_id: str, task_name: str, args: Any, kwargs: Any, exception: str, traceback: str = "", retries: int = 0
) -> FailedTask:
    """Keep a task that failed after its last retry (one row per task id: a retry chain is one failure)."""
    failed, _created = FailedTask.objects.update_or_create(
        task_id=task_id,
        defaults={
            "task_name": task_name,
            "args": _json_safe(list(args or [])),
            "kwargs": _json_safe(dict(kwargs or {})),
            "exception": exception[:10_000] or "?",
            "traceback": traceback[:50_000],
            "retries": min(retries, 32767),
            "state": FailedTaskState.FAILED,
            "failed_at": timezone.now(),
        },
    )
    return failed


@transaction.atomic
def failed_task_retry(*, failed_task: FailedTask, actor: User | None = None) -> FailedTask:
    """Queue the same task with the same arguments again, once the cause is fixed; sent after commit."""
    failed = FailedTask.objects.select_for_update().get(pk=failed_task.pk)
    if failed.state != FailedTaskState.FAILED:
        raise ApplicationError("not_failed", _("This task was already queued again or dismissed."), http_status=409)
    new_id = str(uuid.uuid4())
    failed.state = FailedTaskState.RETRIED
    failed.retried_at = timezone.now()
    failed.retried_by = actor
    failed.retry_task_id = new_id
    failed.save(update_fields=["state", "retried_at", "retried_by", "retry_task_id"])
    enqueue_on_commit(failed.task_name, *failed.args, kwargs=failed.kwargs, task_id=new_id)
    return failed


def failed_tasks_dismiss(*, ids: list[int]) -> int:
    return FailedTask.objects.filter(pk__in=ids, state=FailedTaskState.FAILED).update(state=FailedTaskState.DISMISSED)
