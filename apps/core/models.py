import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """A staff account of the back office. Members are not users: they authenticate through the API."""

    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The back office is shown in this language; empty follows the browser."),
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")
        swappable = "AUTH_USER_MODEL"


class ApiScope(models.TextChoices):
    MEMBERS_READ = "members:read", _("Look up members")
    MEMBERS_WRITE = "members:write", _("Enrol and update members")
    POINTS_WRITE = "points:write", _("Earn and spend points")
    MEMBER_TOKENS = "member_tokens:issue", _("Issue and revoke member tokens")
    REFERRALS_WRITE = "referrals:write", _("Attach and qualify referrals")
    BENEFITS_GRANT = "benefits:grant", _("Grant benefits")
    BENEFITS_REDEEM = "benefits:redeem", _("Look up and redeem benefit codes")
    EVENTS_CHECKIN = "events:checkin", _("Check members in at events")
    ACTIVITY_WRITE = "activity:write", _("Report member activity and purchases")
    ANALYTICS_READ = "analytics:read", _("Read programme metrics")


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiClient(TimeStampedModel):
    """A trusted system (member app backend, POS, dealer system) calling the API with its own key.

    Only a SHA-256 of the key is stored; the key is shown once, when it is created.
    """

    KEY_PREFIX_LENGTH = 8

    name = models.CharField(_("name"), max_length=100, unique=True)
    key_prefix = models.CharField(_("key prefix"), max_length=KEY_PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def generate_key() -> tuple[str, str]:
        prefix = secrets.token_hex(ApiClient.KEY_PREFIX_LENGTH // 2)
        return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_authenticated(self) -> bool:
        return True


class IdempotencyRecord(models.Model):
    """The first answer to a write made with an ``Idempotency-Key``, replayed on retries.

    Keys are scoped to the caller (an API client or a member), so one caller can never receive
    another's stored response. See apps.core.api.idempotency for the protocol.
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_scope_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.scope}/{self.key}"
