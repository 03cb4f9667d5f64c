from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, ApiScope, IdempotencyRecord, User, hash_secret


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


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Forget answers older than the documented lifetime (USEROPS['IDEMPOTENCY_KEY_TTL'])."""
    cutoff = (now or timezone.now()) - settings.USEROPS["IDEMPOTENCY_KEY_TTL"]
    deleted, _details = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
