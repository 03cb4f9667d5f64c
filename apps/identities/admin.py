"""Channel identities in the back office: read only (the trusted API and the import set them), masked per role."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from apps.core.admin_base import ModelAdmin, register_personal_fields
from apps.core.masking import mask_identifier
from apps.identities import selectors
from apps.identities.models import ChannelIdentity, SubscriptionQuota
from apps.members.admin import PII_PERMISSION, can_see_pii, register_member_page_section
from apps.members.models import Member

HIDDEN_FIELDS = ("external_id", "unionid", "adviser_userid")
register_personal_fields(model=ChannelIdentity, fields=HIDDEN_FIELDS, permission=PII_PERMISSION)


class ReadOnly:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChannelIdentity)
class ChannelIdentityAdmin(ReadOnly, ModelAdmin):
    list_display = ["member", "kind", "app_id", "identifier", "unionid_shown", "adviser_shown", "dealer_code", "source", "updated_at"]
    list_filter = [("kind", ChoicesDropdownFilter)]
    search_fields = ["member__name", "app_id", "dealer_code", "external_id", "unionid"]
    list_select_related = ["member", "adviser"]
    extra_lookups = ("member__id__exact",)

    # Staff without the personal-data right get the masked columns; the admin instance is shared between requests,
    # so the choice is made per request by naming different columns, never stored on the instance.
    MASKED = {"identifier": "identifier", "unionid_shown": "unionid_shown", "adviser_shown": "adviser_shown"}
    FULL = {"identifier": "external_id", "unionid_shown": "unionid", "adviser_shown": "adviser_userid"}

    def _columns(self, request: HttpRequest, names: list[str]) -> list[str]:
        chosen = self.FULL if can_see_pii(request) else self.MASKED
        return [chosen.get(name, name) for name in names]

    def get_list_display(self, request: HttpRequest) -> list[str]:
        return self._columns(request, list(super().get_list_display(request)))

    def get_fields(self, request: HttpRequest, obj: ChannelIdentity | None = None) -> list[str]:
        names = ["member", "kind", "app_id", "identifier", "unionid_shown", "adviser_shown", "adviser", "dealer_code", "source"]
        return self._columns(request, [*names, "created_at", "updated_at"])

    def get_readonly_fields(self, request: HttpRequest, obj: ChannelIdentity | None = None) -> list[str]:
        return self.get_fields(request, obj)

    @display(description=_("identifier"))
    def identifier(self, obj: ChannelIdentity) -> str:
        return mask_identifier(obj.external_id) or "—"

    @display(description=_("unionid"))
    def unionid_shown(self, obj: ChannelIdentity) -> str:
        return mask_identifier(obj.unionid) or "—"

    @display(description=_("adviser's WeCom user ID"))
    def adviser_shown(self, obj: ChannelIdentity) -> str:
        return mask_identifier(obj.adviser_userid) or "—"


@admin.register(SubscriptionQuota)
class SubscriptionQuotaAdmin(ReadOnly, ModelAdmin):
    list_display = ["member", "template_id", "remaining", "updated_at"]
    search_fields = ["member__name", "template_id"]
    list_select_related = ["member"]
    extra_lookups = ("member__id__exact",)


def member_identities_section(member: Member) -> SafeString:
    """The member page shows every identity masked, whoever looks: the full values are on the identity's own page."""
    rows = [
        {
            "kind": identity.get_kind_display(),
            "app_id": identity.app_id,
            "identifier": mask_identifier(identity.external_id),
            "unionid": mask_identifier(identity.unionid),
            "adviser": identity.adviser or identity.dealer_code,
            "updated_at": identity.updated_at,
        }
        for identity in selectors.member_identities(member_id=member.pk)
    ]
    subscriptions = list(selectors.member_subscriptions(member_id=member.pk).values("template_id", "remaining"))
    return render_to_string(
        "admin/identities/member_identities.html", {"identities": rows, "subscriptions": subscriptions, "member_id": member.pk}
    )


register_member_page_section(
    name="channel_identities", title=_("Channel identities"), permission="identities.view_channelidentity", render=member_identities_section
)
