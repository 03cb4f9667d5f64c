import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel
from apps.members.models import CHANNEL_MAX_LENGTH, ConsentChannel, Member


class MessagePurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service")


class MessageState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class MessageTemplate(TimeStampedModel):
    """A message text per channel; subject and body are translated and use ``{{ name }}``-style variables."""

    code = models.SlugField(_("code"), max_length=64)
    channel = models.CharField(_("channel"), max_length=CHANNEL_MAX_LENGTH, choices=ConsentChannel.choices)
    subject = models.CharField(_("subject"), max_length=200, blank=True, help_text=_("Email subject or push title."))
    body = models.TextField(
        _("body"),
        help_text=_(
            "Only the documented variables: {{ name }}, {{ tier }}, {{ points_balance }}, {{ unsubscribe_url }} and those the sender "
            "gives ({{ campaign }}, {{ points }}, {{ benefit }}, {{ event_title }}, {{ starts_at }} …); tags: {% if %} only."
        ),
    )
    provider_template_id = models.CharField(
        _("provider template id"),
        max_length=64,
        blank=True,
        help_text=_("The template's id at the provider (Aliyun template code, Tencent Cloud template id, WeChat template id)."),
    )
    provider_params = models.JSONField(
        _("provider template parameters"),
        default=dict,
        blank=True,
        help_text=_(
            "Which message variable fills each parameter of the provider's template: named parameters as an object "
            '(Aliyun: {"name": "name", "code": "benefit_code"}), positional ones as a list (Tencent Cloud: ["name", "points"]). '
            'WeChat: each data key takes "subject", "body" or a text with variables ({"thing1": "subject"}); _page and _url are options.'
        ),
    )
    link_url = models.URLField(
        _("link"),
        max_length=500,
        blank=True,
        help_text=_(
            "Where the message's tracked link leads (https://…). {{ tracked_url }} in the text, an SMS parameter or a WeChat "
            "official account message opens this address through a link that records the member's click."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # modeltranslation adds the per-language columns after the history model is built, so they are left out of it.
    history = AuditHistory(excluded_fields=["subject_en", "subject_zh_hans", "body_en", "body_zh_hans"])

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["code", "channel"]
        constraints = [models.UniqueConstraint(fields=["code", "channel"], name="message_template_unique_code_channel")]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_channel_display()})"


def new_unsubscribe_token() -> str:
    return secrets.token_urlsafe(24)


class Message(TimeStampedModel):
    """One message in the outbox. ``dedupe_key`` makes every sender's retry harmless."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(_("channel"), max_length=CHANNEL_MAX_LENGTH, choices=ConsentChannel.choices)
    purpose = models.CharField(_("purpose"), max_length=10, choices=MessagePurpose.choices, default=MessagePurpose.SERVICE)
    template_code = models.SlugField(_("template"), max_length=64)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"))
    language = models.CharField(_("language"), max_length=10)
    state = models.CharField(_("state"), max_length=10, choices=MessageState.choices, default=MessageState.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    provider = models.CharField(_("provider"), max_length=64, blank=True)
    provider_ref = models.CharField(_("provider reference"), max_length=128, blank=True)
    provider_code = models.CharField(
        _("provider code"), max_length=64, blank=True, help_text=_("The provider's last error or delivery-receipt code.")
    )
    provider_template_id = models.CharField(_("provider template id"), max_length=64, blank=True)
    provider_params = models.JSONField(_("provider template parameters"), null=True, blank=True)
    context = models.JSONField(
        _("variables"), default=dict, blank=True, help_text=_("The sender's variables, kept for a fallback channel.")
    )
    fallback_channels = models.JSONField(
        _("fallback channels"), default=list, blank=True, help_text=_("Channels still to try, in order, if this one gives up.")
    )
    dedupe_key = models.CharField(_("deduplication key"), max_length=200, unique=True)
    unsubscribe_token = models.CharField(max_length=64, unique=True, default=new_unsubscribe_token, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    # The only address the tracked link redirects to, copied from the template when the message is queued.
    link_url = models.URLField(_("link"), max_length=500, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True, help_text=_("The first open: the email's pixel or a click."))
    click_count = models.PositiveIntegerField(_("clicks"), default=0)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="queued"), name="message_due_idx"),
            models.Index(fields=["member", "-created_at"], name="message_member_idx"),
            models.Index(fields=["provider", "provider_ref"], condition=~Q(provider_ref=""), name="message_provider_ref_idx"),
            # Opened messages of one sender (a campaign run's ``campaign-run:<id>:`` keys), counted by prefix.
            models.Index(
                fields=["dedupe_key"],
                opclasses=["varchar_pattern_ops"],
                condition=Q(opened_at__isnull=False),
                name="message_opened_key_idx",
            ),
        ]
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="message_body_not_empty")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.member_id}: {self.template_code}"
