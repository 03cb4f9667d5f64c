"""Channel identities in the back office: read only (the trusted API and the import set them), masked per role."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from apps.core.admin_base import ModelAdmin, register_personal_fields
from apps.core.errors import ApplicationError
from apps.core.masking import mask_identifier
from apps.identities import selectors, services
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


class IdentityImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8 or GBK, header row: member_external_id, kind, app_id, external_id, and optionally unionid, adviser_userid, "
            "dealer_code. kind is official_account, mini_program, wecom or push."
        ),
    )


@admin.register(ChannelIdentity)
class ChannelIdentityAdmin(ReadOnly, ModelAdmin):
    change_list_template = "admin/identities/channelidentity_change_list.html"

    def get_urls(self) -> list:
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="identities_channelidentity_import"),
            *super().get_urls(),
        ]

    def has_import_permission(self, request: HttpRequest) -> bool:
        # The file holds identifiers in full: only staff who may see them import it.
        return request.user.has_perm("identities.add_channelidentity") and can_see_pii(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "can_import": self.has_import_permission(request)})

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = IdentityImportForm(request.POST or None, request.FILES or None)
        rows: list = []
        if request.method == "POST" and form.is_valid():
            try:
                count = services.identities_import(content=form.cleaned_data["file"].read())
            except ApplicationError as exc:
                form.add_error("file", exc.message)
                rows = exc.extra.get("rows", [])[:100]
            else:
                messages.success(request, _("%(count)s identities imported.") % {"count": count})
                return HttpResponseRedirect(reverse("admin:identities_channelidentity_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import channel identities"),
            "form": form,
            "rows": rows,
            "opts": self.model._meta,
            "back_url": reverse("admin:identities_channelidentity_changelist"),
        }
        return TemplateResponse(request, "admin/identities/import.html", context)

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
