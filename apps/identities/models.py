"""Where a member can be reached beyond phone and email: WeChat openids, WeCom contacts, device push tokens,
and the mini-program subscriptions that let one template be sent a counted number of times."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel
from apps.members.models import Member


class IdentityKind(models.TextChoices):
    OFFICIAL_ACCOUNT = "official_account", _("WeChat official account openid")
    MINI_PROGRAM = "mini_program", _("WeChat mini-program openid")
    WECOM = "wecom", _("WeCom external contact")
    PUSH = "push", _("Device push token")


WECHAT_KINDS = (IdentityKind.OFFICIAL_ACCOUNT, IdentityKind.MINI_PROGRAM)


class PushPlatform(models.TextChoices):
    IOS = "ios", _("iOS")
    ANDROID = "android", _("Android")
    HARMONY = "harmony", _("HarmonyOS")


class ChannelIdentity(TimeStampedModel):
    """One address of a member on one channel.

    ``app_id`` is the WeChat app ID (official account or mini-program), the WeCom corp ID, or the push platform;
    ``external_id`` the openid, the WeCom external user ID or the device token. A member has one openid per app and
    one WeCom contact per corp; an address belongs to one member.
    """

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="channel_identities")
    kind = models.CharField(_("kind"), max_length=20, choices=IdentityKind.choices)
    app_id = models.CharField(_("app ID"), max_length=64, help_text=_("WeChat app ID, WeCom corp ID or push platform."))
    external_id = models.CharField(_("identifier"), max_length=255, help_text=_("Openid, WeCom external user ID or device token."))
    unionid = models.CharField(_("unionid"), max_length=64, blank=True)
    adviser_userid = models.CharField(
        _("adviser's WeCom user ID"), max_length=64, blank=True, help_text=_("The WeCom account that owns the relationship and sends.")
    )
    adviser = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("adviser"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dealer_code = models.CharField(_("dealer code"), max_length=32, blank=True)
    source = models.CharField(_("source"), max_length=32, blank=True)
    # Who set, replaced or removed it (a staff import names its user); erased with the identity by anonymisation.
    history = AuditHistory()

    class Meta:
        verbose_name = _("channel identity")
        verbose_name_plural = _("channel identities")
        ordering = ["member", "kind", "app_id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "app_id", "external_id"], name="identity_unique_address"),
            models.UniqueConstraint(fields=["member", "kind", "app_id"], condition=~Q(kind="push"), name="identity_one_per_member_and_app"),
            models.CheckConstraint(condition=~Q(app_id="") & ~Q(external_id=""), name="identity_app_and_id_present"),
            models.CheckConstraint(
                condition=Q(kind__in=["official_account", "mini_program"]) | Q(unionid=""), name="identity_unionid_wechat_only"
            ),
            models.CheckConstraint(
                condition=(Q(kind="wecom") & ~Q(adviser_userid=""))
                | (~Q(kind="wecom") & Q(adviser_userid="") & Q(adviser__isnull=True) & Q(dealer_code="")),
                name="identity_wecom_has_adviser",
            ),
        ]
        indexes = [models.Index(fields=["unionid"], condition=~Q(unionid=""), name="identity_unionid_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.app_id})"


class SubscriptionQuota(TimeStampedModel):
    """A mini-program subscription: each time the member accepts a template, one more message of it may be sent."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="subscription_quotas")
    template_id = models.CharField(_("subscription template ID"), max_length=128)
    remaining = models.PositiveIntegerField(_("messages left"), default=0)

    class Meta:
        verbose_name = _("mini-program subscription")
        verbose_name_plural = _("mini-program subscriptions")
        ordering = ["member", "template_id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "template_id"], name="subscription_unique_member_template"),
            models.CheckConstraint(condition=Q(remaining__gte=0), name="subscription_remaining_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.template_id}: {self.remaining}"
