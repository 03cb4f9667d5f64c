import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.api_keys import api_clients_forget


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
    MEMBER_DATA_RIGHTS = "members:rights", _("Export and anonymise members' personal data (PIPL requests)")
    ACTIVITY_WRITE = "activity:write", _("Report member activity and purchases")
    ANALYTICS_READ = "analytics:read", _("Read programme metrics")
    IDENTITIES_WRITE = "identities:write", _("Read and set members' WeChat, WeCom and push identities and mini-program subscriptions")
    WEBHOOKS_MANAGE = "webhooks:manage", _("Register and manage its own webhook endpoints, read their deliveries and replay them")
    LEADS_WRITE = "leads:write", _("Send leads (prospects' enquiries)")
    RULES_MANAGE = "rules:manage", _("Manage earning rules: create, change, switch on and off, simulate, explain awards")


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

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A revoked or rotated key must stop working at once, whichever path saved the change.
        stored = ApiClient.objects.filter(pk=self.pk).values_list("key_hash", flat=True).first() if self.pk else None
        super().save(*args, **kwargs)
        api_clients_forget(key_hashes=[self.key_hash, stored or ""])

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        api_clients_forget(key_hashes=[self.key_hash])
        return super().delete(*args, **kwargs)

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


class AccessAction(models.TextChoices):
    VIEW_MEMBER_DETAIL = "view_member_detail", _("Viewed a member's full details")
    VIEW_MEMBER_LIST = "view_member_list", _("Viewed a list of members' full details")
    REVEAL = "reveal", _("Revealed personal data (history)")
    EXPORT = "export", _("Exported a file")
    DATA_EXPORT = "data_export", _("Exported a member's data (PIPL)")
    ANONYMISE = "anonymise", _("Anonymised a member (PIPL)")
    LOGIN_FAILED = "login_failed", _("Failed staff sign-in")
    LOGIN_LOCKED = "login_locked", _("Staff sign-in locked after repeated failures")
    LOGIN_UNLOCKED = "login_unlocked", _("Staff sign-in unlocked")


class AccessLogEntry(models.Model):
    """Who looked at or took personal data: every staff view of a member's full details and every export.

    Append-only: the database refuses updates and deletes (see the migration that adds the trigger).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("staff user"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    username = models.CharField(_("username"), max_length=150, blank=True)
    client = models.ForeignKey(ApiClient, verbose_name=_("by system"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    action = models.CharField(_("action"), max_length=20, choices=AccessAction.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, db_index=True)
    object_id = models.CharField(_("object ID"), max_length=64, blank=True, db_index=True)
    row_count = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    # A list page shows many objects at once: their IDs, comma-separated, in the order shown.
    object_ids = models.TextField(_("objects shown"), blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=255, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-at"], name="accesslog_object_idx")]

    def __str__(self) -> str:
        return f"{self.username} {self.action} {self.object_type}:{self.object_id}"


class FailedTaskState(models.TextChoices):
    FAILED = "failed", _("Failed")
    RETRIED = "retried", _("Queued again")
    DISMISSED = "dismissed", _("Dismissed")


class FailedTask(models.Model):
    """A background task that failed after its last retry, kept for staff to see and queue again."""

    task_id = models.CharField(_("task ID"), max_length=64, unique=True)
    task_name = models.CharField(_("task"), max_length=200, db_index=True)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    exception = models.TextField(_("error"))
    traceback = models.TextField(_("traceback"), blank=True)
    retries = models.PositiveSmallIntegerField(_("retries"), default=0)
    state = models.CharField(_("state"), max_length=10, choices=FailedTaskState.choices, default=FailedTaskState.FAILED, db_index=True)
    failed_at = models.DateTimeField(_("failed at"), default=timezone.now, db_index=True)
    retried_at = models.DateTimeField(_("queued again at"), null=True, blank=True)
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("queued again by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    retry_task_id = models.CharField(_("new task ID"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("failed task")
        verbose_name_plural = _("failed tasks")
        ordering = ["-failed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.task_name} [{self.task_id}]"


class OutboxEvent(models.Model):
    """A change another system should hear about, written in the same transaction as the change itself.

    Rows are written by ``apps.core.outbox`` (only when some subscriber wants the type) and drained, oldest
    first, by whoever delivers them (the webhooks app). A rolled-back change leaves no row.
    """

    event_id = models.UUIDField(_("event ID"), unique=True)
    type = models.CharField(_("type"), max_length=64)
    member_id = models.BigIntegerField(_("member ID"), null=True, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
